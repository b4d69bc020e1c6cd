import Foundation
import XCTest

/// SIGTERM while `yopo serve` is answering: the answer in flight runs to its end, then the process
/// exits 0 (the graceful shutdown the CLI promises).
final class ServeShutdownTests: XCTestCase {
    func testSIGTERMLetsTheAnswerInFlightFinishThenExitsZero() throws {
        // Greedy on these random weights, the first 4083 tokens hold no EOS, so this answer is
        // 1500 tokens (about 5 s at one thread): the signal lands while the engine decodes it.
        let model = ServerTests.fixtures.appendingPathComponent("models/llava-hf-tiny").path
        let server = try ServeProcess(["--model", model, "--threads", "1", "--timeout", "0"])
        let deadline = Date().addingTimeInterval(60)
        while try !rawGet(port: server.port, path: "/health").hasPrefix("HTTP/1.1 200"), Date() < deadline { usleep(20_000) }

        let body =
            #"{"messages":[{"role":"user","content":"Tell a long story."}],"max_tokens":1500,"stream":true,"stream_options":{"include_usage":true}}"#
        let fd = try rawRequest(port: server.port, body: body)
        defer { close(fd) }
        var received = rawRead(fd, until: "data: {")
        let metrics = try rawGet(port: server.port, path: "/metrics")
        let busy = metrics.split(separator: "\n").first { $0.hasPrefix("yopo_busy ") }
        XCTAssertEqual(busy.flatMap { Double($0.split(separator: " ")[1]) }, 1, "the engine is not running the request: \(metrics)")
        kill(server.process.processIdentifier, SIGTERM)

        received += rawRead(fd, until: "data: [DONE]")
        XCTAssertTrue(received.hasPrefix("HTTP/1.1 200"), String(received.prefix(200)))
        XCTAssertTrue(received.contains("data: [DONE]"), "the stream ended early: …" + String(received.suffix(300)))
        // Scalars, not Characters: the chunked encoding's "\r\n" is one Character and would hide a line break.
        let events = received.components(separatedBy: .newlines).filter { $0.hasPrefix("data: {") }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any]
        }
        let finishReasons = events.compactMap { (($0["choices"] as? [[String: Any]])?.first?["finish_reason"]) as? String }
        XCTAssertEqual(finishReasons, ["length"])
        let usage = try XCTUnwrap(events.last?["usage"] as? [String: Any])
        let completion = try XCTUnwrap(usage["completion_tokens"] as? Int)
        XCTAssertEqual(completion, 1500, "the answer was cut")
        let contentChunks = events.filter { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] != nil }
        XCTAssertGreaterThan(contentChunks.count, completion / 2)

        XCTAssertTrue(server.waitForExit(seconds: 60), "still running after SIGTERM and the answer's end")
        XCTAssertEqual(server.process.terminationReason, .exit)
        XCTAssertEqual(server.process.terminationStatus, 0)
    }
}
