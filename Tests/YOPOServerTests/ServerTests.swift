import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import TestSupport
import XCTest
import YOPO
import YOPOPruning

@testable import YOPOServer

/// `yopo serve`'s routes through Hummingbird's router test client, on the bundled demo model:
/// answers equal the session's own, the SSE chunk format, per-request pruning, the prefix cache's
/// keys, and every error the server gives.
final class ServerTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let modelDirectory = fixtures.appendingPathComponent("models/llava-demo").path
    nonisolated(unsafe) static var loaded: Session?

    func session() throws -> Session {
        if let s = Self.loaded { return s }
        let s = try Session(modelDirectory: Self.modelDirectory)
        Self.loaded = s
        return s
    }

    func imageBytes(_ name: String) throws -> Data {
        try Data(contentsOf: Self.fixtures.appendingPathComponent("images/\(name)"))
    }

    func dataURI(_ data: Data) -> String { "data:image/png;base64," + data.base64EncodedString() }

    func configuration(_ change: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
        var c = ServerConfiguration(modelID: "llava-demo")
        change(&c)
        return c
    }

    func app(_ state: ServerState) -> some ApplicationProtocol {
        makeApplication(state: state, logger: Logger(label: "test"))
    }

    func body(_ object: [String: Any]) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    }

    func chat(_ question: String, image: Data? = nil, extra: [String: Any] = [:]) throws -> ByteBuffer {
        var content: [[String: Any]] = []
        if let image { content.append(["type": "image_url", "image_url": ["url": dataURI(image)]]) }
        content.append(["type": "text", "text": question])
        var object: [String: Any] = ["model": "llava-demo", "messages": [["role": "user", "content": content]], "max_tokens": 24]
        for (k, v) in extra { object[k] = v }
        return try body(object)
    }

    func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any])
    }

    func error(_ buffer: ByteBuffer) throws -> [String: Any] {
        try XCTUnwrap(try object(buffer)["error"] as? [String: Any])
    }

    let question = "What color is the circle?"

    func testHealthIsUnavailableWhileLoadingThenOK() async throws {
        let state = ServerState(configuration: configuration())
        try await app(state).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                XCTAssertEqual(response.status, .serviceUnavailable)
                XCTAssertEqual(response.headers[.retryAfter], "1")
                XCTAssertEqual(try self.object(response.body)["status"] as? String, "loading")
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: try self.chat(self.question)) { response in
                XCTAssertEqual(response.status, .serviceUnavailable)
            }
            state.ready(try self.session())
            try await client.execute(uri: "/health", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(String(buffer: response.body), #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/v1/models", method: .get) { response in
                let list = try self.object(response.body)
                XCTAssertEqual(list["object"] as? String, "list")
                let data = try XCTUnwrap(list["data"] as? [[String: Any]])
                XCTAssertEqual(data.map { $0["id"] as? String }, ["llava-demo"])
            }
        }
    }

    func testAnAnswerEqualsTheSessionsAnswerWithUsage() async throws {
        let session = try session()
        let image = try imageBytes("shapes-demo.png")
        let state = ServerState(configuration: configuration { $0.prefixCacheBytes = 0 }, session: session)
        let expected = try await session.generate(
            GenerationRequest(prompt: question, images: [.data(image)], parameters: .init(maxTokens: 24)))
        try await app(state).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: try self.chat(self.question, image: image)) {
                response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "application/json")
                let answer = try self.object(response.body)
                XCTAssertEqual(answer["object"] as? String, "chat.completion")
                XCTAssertTrue((answer["id"] as? String)?.hasPrefix("chatcmpl-") == true)
                let choice = try XCTUnwrap((answer["choices"] as? [[String: Any]])?.first)
                let message = try XCTUnwrap(choice["message"] as? [String: Any])
                XCTAssertEqual(message["content"] as? String, expected.text)
                XCTAssertEqual(message["role"] as? String, "assistant")
                XCTAssertEqual(choice["finish_reason"] as? String, expected.finishReason == .stop ? "stop" : "length")
                let usage = try XCTUnwrap(answer["usage"] as? [String: Any])
                XCTAssertEqual(usage["prompt_tokens"] as? Int, expected.promptTokens)
                XCTAssertEqual(usage["completion_tokens"] as? Int, expected.generatedTokens)
                XCTAssertEqual(usage["total_tokens"] as? Int, expected.promptTokens + expected.generatedTokens)
                let yopo = try XCTUnwrap(usage["yopo"] as? [String: Any])
                XCTAssertEqual(yopo["visual_tokens"] as? Int, 64)
                XCTAssertEqual((yopo["executed_flops"] as? [String: Any])?["total"] as? Int, expected.flops.total)
                XCTAssertEqual((yopo["prune"] as? [String: Any])?["spec"] as? String, "none")
            }
        }
        XCTAssertFalse(expected.text.isEmpty)
    }

    func testStreamingChunksAndTheUsageChunk() async throws {
        let session = try session()
        let image = try imageBytes("shapes-demo.png")
        let spec = "yopo:window=3,layers=2,ffn=2"
        let state = ServerState(configuration: configuration { $0.prefixCacheBytes = 0 }, session: session)
        let expected = try await session.generate(
            GenerationRequest(
                prompt: question, images: [.data(image)], parameters: .init(maxTokens: 24), prune: try PruningSpec(parsing: spec)))
        let dense = try await session.generate(
            GenerationRequest(prompt: question, images: [.data(image)], parameters: .init(maxTokens: 24)))
        let extra: [String: Any] = ["stream": true, "stream_options": ["include_usage": true], "yopo": ["prune": spec]]
        try await app(state).test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, body: try self.chat(self.question, image: image, extra: extra)
            ) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "text/event-stream")
                let text = String(buffer: response.body)
                XCTAssertTrue(text.hasSuffix("data: [DONE]\n\n"))
                let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
                XCTAssertTrue(events.allSatisfy { $0.hasPrefix("data: ") })
                let chunks = try events.dropLast().map { e in
                    try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(e.dropFirst(6).utf8)) as? [String: Any])
                }
                XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
                XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1)
                let choices = chunks.map { ($0["choices"] as? [[String: Any]]) ?? [] }
                XCTAssertEqual((choices.first?.first?["delta"] as? [String: Any])?["role"] as? String, "assistant")
                let content = choices.dropFirst().compactMap { ($0.first?["delta"] as? [String: Any])?["content"] as? String }.joined()
                XCTAssertEqual(content, expected.text)
                // The finish chunk, then the usage chunk with no choices.
                XCTAssertEqual(
                    choices[choices.count - 2].first?["finish_reason"] as? String, expected.finishReason == .stop ? "stop" : "length")
                XCTAssertEqual(choices.last?.count, 0)
                let usage = try XCTUnwrap(chunks.last?["usage"] as? [String: Any])
                XCTAssertEqual(usage["completion_tokens"] as? Int, expected.generatedTokens)
                XCTAssertEqual(usage["prompt_tokens"] as? Int, expected.promptTokens)
                let yopo = try XCTUnwrap(usage["yopo"] as? [String: Any])
                XCTAssertEqual((yopo["prune"] as? [String: Any])?["spec"] as? String, spec)
                XCTAssertEqual((yopo["prune"] as? [String: Any])?["kept_layers"] as? Int, 2)
                XCTAssertEqual((yopo["executed_flops"] as? [String: Any])?["total"] as? Int, expected.flops.total)
                XCTAssertLessThan(expected.flops.prefill, dense.flops.prefill)
            }
        }
    }

    func testStopSequencesCutTheAnswer() async throws {
        let session = try session()
        let image = try imageBytes("shapes-demo.png")
        let state = ServerState(configuration: configuration(), session: session)
        let full = try await session.generate(
            GenerationRequest(prompt: "Describe the image.", images: [.data(image)], parameters: .init(maxTokens: 64)))
        let words = full.text.split(separator: " ")
        XCTAssertGreaterThan(words.count, 3)
        let stop = String(words[2])
        let cut = String(full.text[..<full.text.range(of: stop)!.lowerBound])
        for stream in [false, true] {
            try await app(state).test(.router) { client in
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post,
                    body: try self.chat(
                        "Describe the image.", image: image, extra: ["stop": [stop, "zzz"], "stream": stream, "max_tokens": 64])
                ) { response in
                    XCTAssertEqual(response.status, .ok)
                    let text = String(buffer: response.body)
                    if stream {
                        let content = text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: {") }.compactMap { e -> String? in
                            let o = try? JSONSerialization.jsonObject(with: Data(e.dropFirst(6).utf8)) as? [String: Any]
                            return ((o?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
                        }.joined()
                        XCTAssertEqual(content, cut)
                        XCTAssertTrue(text.contains(#""finish_reason":"stop""#))
                    } else {
                        let choice = try XCTUnwrap((try self.object(response.body)["choices"] as? [[String: Any]])?.first)
                        XCTAssertEqual((choice["message"] as? [String: Any])?["content"] as? String, cut)
                        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
                    }
                }
            }
        }
    }

    func testThePrefixCacheKeys() async throws {
        let session = try session()
        let demo = try imageBytes("shapes-demo.png")
        let other = try imageBytes("chelsea.png")
        let state = ServerState(configuration: configuration(), session: session)
        @Sendable func cached(
            _ client: some TestClientProtocol, _ q: String, _ image: Data, _ extra: [String: Any] = [:]
        ) async throws -> (Int, String) {
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: try self.chat(q, image: image, extra: extra)) {
                response in
                XCTAssertEqual(response.status, .ok, String(buffer: response.body))
                let usage = try XCTUnwrap(try self.object(response.body)["usage"] as? [String: Any])
                let details = try XCTUnwrap(usage["prompt_tokens_details"] as? [String: Any])
                let yopo = try XCTUnwrap(usage["yopo"] as? [String: Any])
                return (try XCTUnwrap(details["cached_tokens"] as? Int), try XCTUnwrap(yopo["prefix_cache"] as? String))
            }
        }
        try await app(state).test(.router) { client in
            let first = try await cached(client, "What color is the circle?", demo)
            XCTAssertEqual(first.0, 0)
            XCTAssertEqual(first.1, "miss")
            let second = try await cached(client, "How many objects are there?", demo)
            XCTAssertEqual(second.1, "hit")
            XCTAssertGreaterThan(second.0, 64)
            // Different bytes, different pruning, a different mode: misses.
            let otherBytes = try await cached(client, "How many objects are there?", other)
            XCTAssertEqual(otherBytes.1, "miss")
            let otherPlan = try await cached(client, "How many objects are there?", demo, ["yopo": ["prune": "yopo:window=3,layers=2"]])
            XCTAssertEqual(otherPlan.1, "miss")
            let otherMode = try await cached(
                client, "How many objects are there?", demo, ["yopo": ["prune": "yopo:window=3,layers=2", "mode": "simulate"]])
            XCTAssertEqual(otherMode.1, "miss")
            let samePlan = try await cached(client, "Is there a square?", demo, ["yopo": ["prune": "yopo:window=3,layers=2"]])
            XCTAssertEqual(samePlan.1, "hit")
        }
        XCTAssertEqual(state.cache?.statistics.hits, 2)
        let metrics = state.metricsText()
        XCTAssertTrue(metrics.contains("yopo_prefix_cache_hits_total 2"), metrics)
        XCTAssertTrue(metrics.contains("yopo_prefix_cache_misses_total 4"), metrics)
    }

    func testEveryErrorIsAJSONErrorWithItsStatus() async throws {
        let session = try session()
        let image = try imageBytes("shapes-demo.png")
        let state = ServerState(configuration: configuration { $0.maxBodyBytes = 1 << 20 }, session: session)
        let broken = Data(TestPNG.make(width: 8, height: 8, zlib: [0x78, 0x9c, 1, 2, 3]))
        let cases: [(String, ByteBuffer, HTTPResponse.Status, String?, String)] = [
            ("not JSON", ByteBuffer(string: "nope"), .badRequest, nil, "not JSON"),
            ("no messages", try body(["model": "llava-demo"]), .badRequest, nil, "messages is missing"),
            ("empty messages", try body(["messages": []]), .badRequest, "messages", "must not be empty"),
            ("n", try chat(question, extra: ["n": 2]), .badRequest, "n", "n must be 1"),
            ("max_tokens", try chat(question, extra: ["max_tokens": 0]), .badRequest, "max_tokens", "at least 1"),
            ("temperature", try chat(question, extra: ["temperature": -1]), .badRequest, "temperature", "≥ 0"),
            ("top_p", try chat(question, extra: ["top_p": 0]), .badRequest, "top_p", "(0, 1]"),
            ("stop", try chat(question, extra: ["stop": ["a", "b", "c", "d", "e"]]), .badRequest, "stop", "at most 4"),
            ("prune", try chat(question, extra: ["yopo": ["prune": "yopo:window=4"]]), .badRequest, "yopo.prune", "window"),
            (
                "mask path", try chat(question, extra: ["yopo": ["prune": "yopo:heads=/etc/passwd"]]), .badRequest, "yopo.prune",
                "heads=PATH"
            ),
            ("mode", try chat(question, extra: ["yopo": ["mode": "fast"]]), .badRequest, "yopo.mode", "not a mode"),
            ("model", try chat(question, extra: ["model": "gpt-4o"]), .notFound, "model", "not served here"),
            ("role", try body(["messages": [["role": "tool", "content": "x"]]]), .badRequest, "messages[0].role", "not supported"),
            ("order", try body(["messages": [["role": "assistant", "content": "x"]]]), .badRequest, nil, "user turn"),
            (
                "part type", try body(["messages": [["role": "user", "content": [["type": "input_audio", "input_audio": [:]]]]]]),
                .badRequest, nil, "input_audio"
            ),
            (
                "data URI",
                try body(["messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "data:image/png,abc"]]]]]]),
                .badRequest, "messages[0].content[0].image_url", "base64"
            ),
            (
                "base64",
                try body([
                    "messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "data:image/png;base64,@@@"]]]]]
                ]),
                .badRequest, "messages[0].content[0].image_url", "does not decode"
            ),
            (
                "remote",
                try body([
                    "messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "https://example.com/a.png"]]]]]
                ]),
                .badRequest, "messages[0].content[0].image_url", "not fetched"
            ),
            (
                "file", try body(["messages": [["role": "user", "content": [["type": "image_url", "image_url": "/etc/hosts"]]]]]),
                .badRequest, "messages[0].content[0].image_url", "local image files are off"
            ),
            ("undecodable image", try chat(question, image: broken), .badRequest, "messages", "<image 1"),
            ("context", try chat(String(repeating: "circle ", count: 5000), image: image), .badRequest, "messages", "context"),
            ("too large", ByteBuffer(bytes: [UInt8](repeating: 0x20, count: (1 << 20) + 1)), .contentTooLarge, nil, "larger than")
        ]
        try await app(state).test(.router) { client in
            for (name, requestBody, status, param, message) in cases {
                try await client.execute(uri: "/v1/chat/completions", method: .post, body: requestBody) { response in
                    XCTAssertEqual(response.status, status, name)
                    XCTAssertEqual(response.headers[.contentType], "application/json", name)
                    let e = try self.error(response.body)
                    XCTAssertEqual(e["param"] as? String, param, name)
                    XCTAssertTrue((e["message"] as? String)?.contains(message) == true, "\(name): \(e["message"] ?? "")")
                    XCTAssertEqual(
                        e["type"] as? String, status == .notFound ? "not_found_error" : "invalid_request_error", name)
                }
            }
            try await client.execute(uri: "/v2/nothing", method: .get) { response in
                XCTAssertEqual(response.status, .notFound)
                XCTAssertEqual(try self.error(response.body)["type"] as? String, "not_found_error")
            }
            // After all of that, a good request is answered as ever.
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: try self.chat(self.question, image: image)) {
                response in
                XCTAssertEqual(response.status, .ok)
            }
        }
        XCTAssertTrue(state.metricsText().contains(#"yopo_requests_total{outcome="error_400"} 20"#), state.metricsText())
    }

    func testAFullQueueAnswers503WithRetryAfterAndATimeoutAnswers504() async throws {
        let session = try session()
        let image = try imageBytes("shapes-demo.png")
        let full = ServerState(configuration: configuration { $0.maxQueuedRequests = 0 }, session: session)
        try await app(full).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: try self.chat(self.question, image: image)) {
                response in
                XCTAssertEqual(response.status, .serviceUnavailable)
                XCTAssertEqual(response.headers[.retryAfter], "1")
                XCTAssertEqual(try self.error(response.body)["code"] as? String, "queue_full")
            }
        }
        let hurried = ServerState(configuration: configuration { $0.requestTimeoutSeconds = 1e-6 }, session: session)
        try await app(hurried).test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, body: try self.chat(self.question, image: image, extra: ["max_tokens": 4000])
            ) { response in
                XCTAssertEqual(response.status, .gatewayTimeout)
                XCTAssertEqual(try self.error(response.body)["type"] as? String, "timeout_error")
            }
        }
        XCTAssertEqual(hurried.inFlight, 0)
        XCTAssertTrue(hurried.metricsText().contains(#"yopo_requests_total{outcome="error_504"} 1"#), hurried.metricsText())
    }
}

/// The server on a real socket: a client that goes away mid-answer stops the engine.
final class LiveServerTests: XCTestCase {
    func testTheEngineStopsWhenTheClientDisconnects() async throws {
        // Random weights rarely say EOS: the answer would run to the context without the disconnect.
        let directory = ServerTests.fixtures.appendingPathComponent("models/llava-hf-tiny").path
        let session = try Session(modelDirectory: directory)
        var configuration = ServerConfiguration(modelID: "llava-hf-tiny")
        configuration.port = 0
        let state = ServerState(configuration: configuration, session: session)
        let app = makeApplication(state: state, logger: Logger(label: "test"))
        try await app.test(.live) { client in
            let port = try XCTUnwrap(client.port)
            for stream in [false, true] {
                let body = #"{"messages":[{"role":"user","content":"Tell a long story."}],"max_tokens":100000,"stream":\#(stream)}"#
                let fd = try rawRequest(port: port, body: body)
                // Wait until the engine is running the request, then hang up.
                for _ in 0..<200 where session.status.running == false { try await Task.sleep(nanoseconds: 5_000_000) }
                XCTAssertTrue(session.status.running)
                close(fd)
                var stopped = false
                for _ in 0..<400 {
                    if !session.status.running && state.inFlight == 0 {
                        stopped = true
                        break
                    }
                    try await Task.sleep(nanoseconds: 5_000_000)
                }
                XCTAssertTrue(stopped, "stream \(stream): the engine still runs after the client left")
            }
        }
        let metrics = state.metricsText()
        XCTAssertTrue(metrics.contains(#"yopo_requests_total{outcome="cancelled"} 2"#), metrics)
        // Far fewer tokens than the context would have taken.
        let line = try XCTUnwrap(metrics.split(separator: "\n").first { $0.hasPrefix("yopo_generated_tokens_total ") })
        let generated = try XCTUnwrap(Int(line.split(separator: " ")[1]))
        XCTAssertLessThan(generated, session.model.contextLength)
    }

    /// A port already taken and a host that does not resolve give one-line errors naming the address, not a NIO dump.
    func testBindFailuresNameTheAddress() async throws {
        let directory = ServerTests.fixtures.appendingPathComponent("models/llava-hf-tiny").path
        let session = try Session(modelDirectory: directory)
        var base = ServerConfiguration(modelID: "llava-hf-tiny")
        base.port = 0
        let configuration = base
        let app = makeApplication(state: ServerState(configuration: configuration, session: session), logger: Logger(label: "test"))
        try await app.test(.live) { client in
            let port = try XCTUnwrap(client.port)
            var taken = configuration
            taken.port = port
            var badHost = configuration
            badHost.host = "999.1.1.1"
            let cases = [
                (
                    taken,
                    "cannot listen on 127.0.0.1:\(port): the address is already in use (another server?); choose another --port or --port 0"
                ),
                (badHost, "cannot listen on 999.1.1.1:0: ")
            ]
            for (configuration, message) in cases {
                do {
                    try await runServer(
                        state: ServerState(configuration: configuration, session: session), logger: Logger(label: "test"),
                        load: { session }, onLoadFailure: { _ in })
                    XCTFail("\(configuration.host):\(configuration.port) was bound")
                } catch let error as ListenError {
                    XCTAssertTrue(error.description.hasPrefix(message), error.description)
                    XCTAssertFalse(error.description.contains("\n"))
                }
            }
        }
    }
}

/// Sends an HTTP/1.1 POST on a new socket and returns it, unread.
func rawRequest(port: Int, body: String) throws -> Int32 {
    let fd = try rawConnect(port: port)
    let request =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    return fd
}

/// A TCP connection to 127.0.0.1:`port`.
func rawConnect(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(fd)
        throw ServeProcessError(message: "cannot connect to 127.0.0.1:\(port) (errno \(errno))")
    }
    return fd
}

/// Reads from `fd` until what was received contains `marker` (nil: until the peer closes), the
/// peer closes, or 60 s pass without data; returns everything read.
func rawRead(_ fd: Int32, until marker: String? = nil) -> String {
    var timeout = timeval(tv_sec: 60, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let wanted = marker.map { Data($0.utf8) }
    var received = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        let searchFrom = max(0, received.count - (wanted?.count ?? 0))
        received.append(contentsOf: buffer[0..<n])
        if let wanted, received.range(of: wanted, in: searchFrom..<received.count) != nil { break }
    }
    return String(decoding: received, as: UTF8.self)
}

/// A GET on a new connection: the whole response, head and body.
func rawGet(port: Int, path: String) throws -> String {
    let fd = try rawConnect(port: port)
    defer { close(fd) }
    let request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    return rawRead(fd)
}
