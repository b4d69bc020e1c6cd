import Foundation
import XCTest

/// The running `yopo serve` driven by the real `openai` Python client (Tools/server): plain,
/// streamed with a usage chunk, and with per-request pruning through `extra_body`; each answer's
/// text and token counts equal `yopo generate` on the same inputs. This test needs Python: it
/// makes its own venv (`.build/openai-venv`) and pip-installs the pinned client there, because
/// what it checks is that the client applications use works against the server as it is.
final class OpenAIClientTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @discardableResult
    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: Data, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, o, String(decoding: e, as: UTF8.self))
    }

    /// The venv's python with the pinned client, made on first use.
    func python() throws -> String {
        let venv = Self.root.appendingPathComponent(".build/openai-venv")
        let python = venv.appendingPathComponent("bin/python").path
        if FileManager.default.isExecutableFile(atPath: python), try run(python, ["-c", "import openai"]).status == 0 { return python }
        let made = try run("/usr/bin/env", ["python3", "-m", "venv", venv.path])
        XCTAssertEqual(made.status, 0, made.err)
        let requirements = Self.root.appendingPathComponent("Tools/server/requirements.txt").path
        let installed = try run(python, ["-m", "pip", "install", "--quiet", "-r", requirements])
        XCTAssertEqual(installed.status, 0, installed.err)
        return python
    }

    func testTheOpenAIClientGetsWhatYopoGenerateAnswers() throws {
        let python = try python()
        let model = Self.root.appendingPathComponent("Tests/Fixtures/models/llava-demo").path
        let image = Self.root.appendingPathComponent("Tests/Fixtures/images/shapes-demo.png").path
        let prompt = "Describe the image."
        let spec = "yopo:window=3,layers=2,ffn=2"
        let maxTokens = "48"

        let server = try ServeProcess(["--model", model, "--threads", "1"])
        let port = server.port
        let check = Self.root.appendingPathComponent("Tools/server/openai_client_check.py").path
        let client = try run(python, [check, "http://127.0.0.1:\(port)/v1", "llava-demo", image, prompt, maxTokens, spec])
        XCTAssertEqual(client.status, 0, client.err + " server: " + server.log)
        let answers = try XCTUnwrap(try JSONSerialization.jsonObject(with: client.out) as? [String: [String: Any]])

        func generate(_ prune: String) throws -> [String: Any] {
            let r = try run(
                ServeProcess.executable.path,
                [
                    "generate", "--model", model, "--image", image, "--prompt", prompt, "--max-tokens", maxTokens, "--prune", prune,
                    "--json", "--threads", "1"
                ])
            XCTAssertEqual(r.status, 0, r.err)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: r.out) as? [String: Any])
        }
        let dense = try generate("none")
        let pruned = try generate(spec)
        for (name, expected) in [("plain", dense), ("stream", dense), ("pruned", pruned)] {
            let got = try XCTUnwrap(answers[name], name)
            XCTAssertEqual(got["text"] as? String, expected["text"] as? String, name)
            XCTAssertEqual(got["completion_tokens"] as? Int, expected["generated_tokens"] as? Int, name)
            XCTAssertEqual(got["prompt_tokens"] as? Int, expected["prompt_tokens"] as? Int, name)
            XCTAssertEqual(got["finish_reason"] as? String, expected["finish_reason"] as? String, name)
        }
        XCTAssertEqual(answers["stream"]?["roles"] as? Int, 1)
        XCTAssertEqual(answers["pruned"]?["spec"] as? String, spec)
        XCTAssertNotEqual(answers["pruned"]?["total_flops"] as? Int, nil)
        XCTAssertFalse((dense["text"] as? String ?? "").isEmpty)

        // SIGTERM: the server stops and exits 0.
        server.process.terminate()
        XCTAssertTrue(server.waitForExit(seconds: 60))
        XCTAssertEqual(server.process.terminationReason, .exit)
        XCTAssertEqual(server.process.terminationStatus, 0)
    }
}
