import Foundation
import XCTest
import YOPO
import YOPOText

/// The public session, in process (no subprocess): one load serves many requests, image bytes are
/// images, streaming and cancelling, requests from several tasks at once, conversations.
final class SessionTests: XCTestCase {
    let question = "What is shown?"
    var chelsea: String { Paths.image("chelsea.png") }

    /// Loaded once for the whole test run (the point of a session).
    func session() throws -> Session { try SharedSession.tinyLLaVA() }

    func golden() throws -> [Int] { try GoldenIDs.load("hf_chelsea").greedy_ids }

    func chelseaRequest(_ image: ImageInput? = nil, maxTokens: Int = 20) -> GenerationRequest {
        GenerationRequest(prompt: question, images: [image ?? .path(chelsea)], parameters: .init(maxTokens: maxTokens))
    }

    // MARK: one load, many requests

    /// Two requests on one loaded session (another one between them) each give the reference's greedy ids.
    func testRequestsOnOneSessionGiveTheGoldenIDs() throws {
        let session = try session()
        let first = try session.generate(chelseaRequest())
        let other = try session.generate(
            GenerationRequest(
                prompt: "Describe the image.", images: [.path(Paths.image("rocket.jpg"))], parameters: .init(maxTokens: 5)))
        let second = try session.generate(chelseaRequest())
        XCTAssertEqual(first.tokenIDs, try golden())
        XCTAssertEqual(second.tokenIDs, try golden())
        XCTAssertEqual(first.text, second.text)
        XCTAssertEqual(first.finishReason, .length)
        XCTAssertEqual(first.promptTokens, try GoldenIDs.load("hf_chelsea").input_ids.count)
        XCTAssertEqual(other.generatedTokens, 5)
        XCTAssertNotEqual(Array(first.tokenIDs.prefix(5)), other.tokenIDs)
        // Every request reports the one load.
        XCTAssertEqual(first.timingsMS.load, second.timingsMS.load)
        XCTAssertEqual(session.status, Session.Status(running: false, waiting: 0))
    }

    /// PNG bytes in memory are the same image as the file: same pixels, same ids.
    func testImageBytesEqualTheSameImageByPath() throws {
        let session = try session()
        for name in ["chelsea.png", "rocket.jpg"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: Paths.image(name)))
            XCTAssertEqual(try session.pixels(of: .data(bytes)).scalars, try session.pixels(contentsOf: Paths.image(name)).scalars, name)
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: chelsea))
        let fromBytes = try session.generate(chelseaRequest(.data(bytes)))
        XCTAssertEqual(fromBytes.tokenIDs, try golden())
        XCTAssertEqual(fromBytes.text, try session.generate(chelseaRequest()).text)
    }

    /// Bytes that are not an image fail like such a file, naming the image by its place and size.
    func testBadImageBytesNameTheImage() throws {
        let session = try session()
        let request = GenerationRequest(
            prompt: question, images: [.path(chelsea), .data(Data("not an image".utf8))], parameters: .init(maxTokens: 1))
        XCTAssertThrowsError(try session.generate(request)) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot decode image '<image 2: 12 bytes>': unsupported image format"), "\(error)")
        }
        XCTAssertThrowsError(try session.generate(GenerationRequest(prompt: question, images: [.data(Data())]))) { error in
            XCTAssertTrue("\(error)".contains("<image 1: 0 bytes>"), "\(error)")
        }
        XCTAssertEqual(try session.generate(chelseaRequest()).tokenIDs, try golden())
    }

    // MARK: streaming

    /// The stream yields the non-streamed request's ids one event each, its text in pieces, then the same result.
    func testStreamYieldsTheSameTokensAsGenerate() async throws {
        let session = try session()
        var ids: [Int] = [], text = "", final: GenerationResult?
        for try await event in session.stream(chelseaRequest()) {
            XCTAssertNil(final, "an event after .finished")
            switch event {
            case .token(let id, let piece):
                ids.append(id)
                text += piece
            case .finished(let result, let tail):
                text += tail
                final = result
            }
        }
        let result = try XCTUnwrap(final)
        let plain = try session.generate(chelseaRequest(), cancellation: nil)
        XCTAssertEqual(ids, plain.tokenIDs)
        XCTAssertEqual(ids, try golden())
        XCTAssertEqual(result.tokenIDs, ids)
        XCTAssertEqual(text, result.text)
        XCTAssertEqual(result.text, plain.text)
        XCTAssertEqual(result.flops, plain.flops)
        XCTAssertEqual(result.finishReason, .length)
        // The callback form sees the same events.
        var callbackIDs: [Int] = []
        _ = try session.generate(chelseaRequest()) { event in
            if case .token(let id, _) = event { callbackIDs.append(id) }
        }
        XCTAssertEqual(callbackIDs, ids)
        // And the async form returns the same result.
        let awaited = try await session.generate(chelseaRequest())
        XCTAssertEqual(awaited.tokenIDs, ids)
    }

    /// A request that cannot run ends its stream with the error; the session goes on.
    func testStreamEndsWithTheRequestsError() async throws {
        let session = try session()
        let bad = GenerationRequest(prompt: question, images: [.path("/nonexistent/photo.png")])
        do {
            for try await _ in session.stream(bad) { XCTFail("no event expected") }
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual("\(error)", "cannot read image '/nonexistent/photo.png': no such file")
        }
        let again = try await session.generate(chelseaRequest())
        XCTAssertEqual(again.tokenIDs, try golden())
    }

    // MARK: cancelling

    /// Cancelled after three tokens: it stops there, between decode steps, with finish reason `cancelled`.
    func testCancelledRequestStopsEarly() throws {
        let session = try session()
        let token = CancellationToken()
        var seen = 0
        let result = try session.generate(chelseaRequest(), cancellation: token) { event in
            if case .token = event {
                seen += 1
                if seen == 3 { token.cancel() }
            }
        }
        XCTAssertEqual(result.finishReason, .cancelled)
        XCTAssertEqual(result.tokenIDs, Array(try golden().prefix(3)))
        XCTAssertEqual(result.generatedTokens, 3)
        XCTAssertTrue(result.timingLine.hasSuffix("| stopped: cancelled"), result.timingLine)
        // Cancelled before it starts: nothing runs.
        let early = CancellationToken()
        early.cancel()
        let none = try session.generate(chelseaRequest(), cancellation: early)
        XCTAssertEqual(none.finishReason, .cancelled)
        XCTAssertEqual(none.tokenIDs, [])
        XCTAssertEqual(none.promptTokens, 0)
        // The session is fine afterwards.
        XCTAssertEqual(try session.generate(chelseaRequest()).tokenIDs, try golden())
    }

    /// Cancelling the task that consumes a stream stops generation: the task ends long before the
    /// thousands of tokens asked for, and the session serves the next request.
    func testCancellingTheConsumingTaskStopsGeneration() async throws {
        let session = try session()
        let long = chelseaRequest(maxTokens: 1 << 20)
        let token = CancellationToken()
        let consumer = Task {
            var n = 0
            for try await event in session.stream(long, cancellation: token) {
                if case .token = event { n += 1 }
                if n == 2 { withUnsafeCurrentTask { $0?.cancel() } }
            }
            return n
        }
        let consumed = try await consumer.value
        XCTAssertGreaterThanOrEqual(consumed, 2)
        XCTAssertTrue(token.isCancelled, "the stream's termination cancels the request")
        // The cancelled request no longer holds the session.
        let next = try await session.generate(chelseaRequest())
        XCTAssertEqual(next.tokenIDs, try golden())

        // `generate(_:) async`: cancelling its task gives a `cancelled` result, not the full run.
        let task = Task { try await session.generate(long) }
        task.cancel()
        let cancelled = try await task.value
        XCTAssertEqual(cancelled.finishReason, .cancelled)
        XCTAssertLessThan(cancelled.generatedTokens, 100)
    }

    // MARK: concurrency

    /// Requests from several tasks at once run one at a time and each gets what it gets alone.
    func testConcurrentRequestsDoNotInterfere() async throws {
        let session = try session()
        let requests = [
            chelseaRequest(),
            GenerationRequest(prompt: "Describe the image.", images: [.path(Paths.image("rocket.jpg"))], parameters: .init(maxTokens: 7)),
            GenerationRequest(prompt: question, images: [.path(chelsea)], parameters: .init(maxTokens: 8, temperature: 0.8, seed: 3)),
            chelseaRequest()
        ]
        let alone = try requests.map { try session.generate($0).tokenIDs }
        let together = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (i, request) in requests.enumerated() {
                group.addTask {
                    var ids: [Int] = []
                    for try await event in session.stream(request) { if case .token(let id, _) = event { ids.append(id) } }
                    return (i, ids)
                }
            }
            // A synchronous caller on another thread at the same time.
            group.addTask { (-1, try session.generate(requests[1], cancellation: nil).tokenIDs) }
            var out: [Int: [Int]] = [:]
            for try await (i, ids) in group { out[i] = ids }
            return out
        }
        for i in requests.indices { XCTAssertEqual(together[i], alone[i], "request \(i)") }
        XCTAssertEqual(together[-1], alone[1])
        XCTAssertEqual(alone[0], try golden())
    }

    // MARK: conversations

    /// A one-message conversation is the plain prompt; a longer one renders through the template.
    func testMessagesRenderThroughTheTemplate() throws {
        let session = try session()
        let image = ImageInput.path(chelsea)
        let single = try session.generate(GenerationRequest(messages: [.user(question, images: [image])], parameters: .init(maxTokens: 20)))
        XCTAssertEqual(single.tokenIDs, try golden())
        // An explicit <image> placement in the message is the same prompt here (llava-hf puts the image first).
        let placed = try session.tokenize([.user("<image>\n" + question, images: [image])])
        XCTAssertEqual(placed.ids, try GoldenIDs.load("hf_chelsea").input_ids)

        let conversation: [ChatMessage] = [
            .user(question, images: [image]), .assistant("A cat."), .user("What colour is it?")
        ]
        let expected = try tokenizePrompt(
            "USER: <image>\n\(question) ASSISTANT: A cat. USER: What colour is it? ASSISTANT:", tokenizer: session.tokenizer,
            imageTokenization: session.template.imageTokenization, images: 1,
            tokensPerImage: try XCTUnwrap(session.model.fixedTokensPerImage))
        let tokens = try session.tokenize(conversation)
        XCTAssertEqual(tokens.ids, expected.ids)
        XCTAssertEqual(tokens.imageSpans.count, 1)
        let answer = try session.generate(GenerationRequest(messages: conversation, parameters: .init(maxTokens: 4)))
        XCTAssertEqual(answer.promptTokens, tokens.ids.count)
        XCTAssertEqual(answer.visualTokens, 576)
    }

    /// Conversations of the wrong shape are refused, naming the message.
    func testMalformedConversationsAreRefused() throws {
        let session = try session()
        let image = ImageInput.path(chelsea)
        let cases: [([ChatMessage], String)] = [
            ([], "invalid parameter: the request has no messages"),
            ([.assistant("Hello.")], "invalid parameter: message 1 is a assistant turn where a user turn was expected"),
            ([.user("a"), .user("b")], "invalid parameter: message 2 is a user turn where a assistant turn was expected"),
            ([.user("a"), .assistant("b")], "invalid parameter: the last message must be a user turn"),
            ([.user("a"), .system("b"), .user("c")], "invalid parameter: message 2 is a system message; only the first may be"),
            (
                [.user("a"), ChatMessage(role: .assistant, text: "b", images: [image]), .user("c")],
                "invalid parameter: message 2 is a assistant turn with images; images go with user turns"
            ),
            ([.user("<image> and <image>", images: [image])], "the prompt has 2 <image> placeholder(s) but only 1 image(s) were given"),
            (
                [.user("<image> first", images: [image, image]), .user("second")],
                "the prompt has 1 <image> placeholder(s) but 2 images were given"
            )
        ]
        for (messages, message) in cases {
            XCTAssertThrowsError(try session.generate(GenerationRequest(messages: messages, parameters: .init(maxTokens: 1)))) { error in
                XCTAssertTrue("\(error)".hasPrefix(message), "\(messages): \(error)")
            }
        }
        // A system message replaces the template's system prompt (llava-hf writes it bare).
        let tokens = try session.tokenize([.system("Be brief."), .user(question, images: [image])])
        let expected = try tokenizePrompt(
            "Be brief. USER: <image>\n\(question) ASSISTANT:", tokenizer: session.tokenizer,
            imageTokenization: session.template.imageTokenization, images: 1,
            tokensPerImage: try XCTUnwrap(session.model.fixedTokensPerImage))
        XCTAssertEqual(tokens.ids, expected.ids)
    }
}
