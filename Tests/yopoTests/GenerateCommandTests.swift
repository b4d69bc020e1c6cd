import Foundation
import TestSupport
import XCTest
import YOPO

/// Paths of committed fixtures and of the built `yopo` executable.
enum Paths {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = tests.appendingPathComponent("Fixtures")
    static func model(_ name: String) -> String { fixtures.appendingPathComponent("models/\(name)").path }
    static func image(_ name: String) -> String { fixtures.appendingPathComponent("images/\(name)").path }

    /// The built `yopo`.
    static var executable: URL { BuiltExecutable.yopo }
}

struct GoldenIDs: Decodable {
    var greedy_ids: [Int]
    var input_ids: [Int]
    var image_span: [Int]

    static func load(_ name: String) throws -> GoldenIDs {
        try JSONDecoder().decode(
            GoldenIDs.self, from: Data(contentsOf: URL(fileURLWithPath: Paths.model("golden/\(name).json"))))
    }
}

/// The result of one `yopo` run.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The signal that ended the process, if one did (then `status` is that signal's number).
    var signal: Int32? = nil
    /// Whether the run outlived its timeout (it was then killed).
    var timedOut = false
}

/// Runs `yopo` with `arguments`, bounded by a timeout so a hang fails the test: `stdin` bytes on its
/// standard input (none: /dev/null); with `addressSpaceLimitKiB`, under that `ulimit -v`. With
/// `failOnTimeout` a timeout is a test failure here; otherwise the caller reads `timedOut`.
func runYOPO(
    _ arguments: [String], stdin: Data? = nil, addressSpaceLimitKiB: Int? = nil, timeout: TimeInterval = 120,
    failOnTimeout: Bool = true
) throws -> RunResult {
    let process = Process()
    if let addressSpaceLimitKiB {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(addressSpaceLimitKiB) && exec \"$0\" \"$@\"", Paths.executable.path] + arguments
    } else {
        process.executableURL = Paths.executable
        process.arguments = arguments
    }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try process.run()
    if let stdin {
        DispatchQueue.global().async {
            try? input.fileHandleForWriting.write(contentsOf: stdin)
            try? input.fileHandleForWriting.close()
        }
    }
    final class Box: @unchecked Sendable { var data = Data() }
    let outBox = Box(), errBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave()
    }
    group.enter()
    DispatchQueue.global().async {
        errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave()
    }
    var timedOut = false
    if group.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        kill(process.processIdentifier, SIGKILL)
        if failOnTimeout { XCTFail("yopo \(arguments.joined(separator: " ")) did not finish within \(timeout) s") }
    }
    process.waitUntilExit()
    return RunResult(
        status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
        stderr: String(decoding: errBox.data, as: UTF8.self),
        signal: process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil, timedOut: timedOut)
}

final class GenerateCommandTests: XCTestCase {
    /// The README's main job: the bundled default checkpoint and photo give the reference's greedy ids.
    func testBundledDefaultProducesGoldenIDs() throws {
        let golden = try GoldenIDs.load("hf_chelsea")
        let run = try runYOPO([
            "generate", "--model", Paths.model("llava-hf-tiny"), "--image", Paths.image("chelsea.png"),
            "--prompt", "What is shown?", "--max-tokens", "20", "--json"
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["token_ids"] as? [Int], golden.greedy_ids)
        XCTAssertEqual(object["prompt_tokens"] as? Int, golden.input_ids.count)
        XCTAssertEqual(object["visual_tokens"] as? Int, 576)
        XCTAssertEqual(object["generated_tokens"] as? Int, 20)
        let timings = try XCTUnwrap(object["timings_ms"] as? [String: Double])
        XCTAssertEqual(Set(timings.keys), ["load", "image", "vision", "prefill", "decode"])
        XCTAssertNotNil(object["text"] as? String)
    }

    /// Original layout through the CLI: vision tower found from `mm_vision_tower`, vicuna_v1, pad.
    func testOriginalLayoutStreamsTextAndTimings() throws {
        let golden = try GoldenIDs.load("orig_astronaut")
        let pipeline = try Session(modelDirectory: Paths.model("llava-v1.5-tiny"))
        let expectedText = pipeline.tokenizer.decode(golden.greedy_ids, skipSpecialTokens: true)
        let run = try runYOPO([
            "generate", "--model", Paths.model("llava-v1.5-tiny"),
            "--vision-tower", Paths.model("clip-vit-tiny"), "--image", Paths.image("astronaut.png"),
            "--prompt", "What is the person wearing?", "--max-tokens", "20", "--threads", "1"
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, expectedText + "\n")
        XCTAssertTrue(run.stderr.contains("prefill"), run.stderr)
        XCTAssertTrue(run.stderr.contains("(\(golden.input_ids.count - 1 + 576) tokens, 576 visual)"), run.stderr)
    }

    func testSamplingIsReproducibleForASeed() throws {
        let args = [
            "generate", "--model", Paths.model("llava-hf-tiny"), "--image", Paths.image("chelsea.png"),
            "--prompt", "What is shown?", "--max-tokens", "8", "--temperature", "0.8", "--top-p", "0.9",
            "--top-k", "40", "--seed", "7", "--json"
        ]
        let a = try runYOPO(args), b = try runYOPO(args)
        XCTAssertEqual(a.status, 0, a.stderr)
        let ids = { (r: RunResult) in
            (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["token_ids"] as? [Int]
        }
        XCTAssertEqual(ids(a)?.count, 8)
        XCTAssertEqual(ids(a), ids(b))
    }
}
