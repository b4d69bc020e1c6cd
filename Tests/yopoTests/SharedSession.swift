import YOPO

/// The tiny llava-hf checkpoint loaded once for every test class that only sends it requests (a
/// session is read-only and runs its requests one at a time).
enum SharedSession {
    nonisolated(unsafe) private static var tiny: Session?

    static func tinyLLaVA() throws -> Session {
        if let s = tiny { return s }
        let s = try Session(modelDirectory: Paths.model("llava-hf-tiny"))
        tiny = s
        return s
    }
}
