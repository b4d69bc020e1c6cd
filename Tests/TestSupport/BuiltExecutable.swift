import Foundation

/// The built `yopo` executable: it sits next to the test bundle in the build products directory
/// (a few levels up from the test runner on Linux).
public enum BuiltExecutable {
    public static var yopo: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("yopo")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir.deleteLastPathComponent()
        }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("yopo")
    }
}
