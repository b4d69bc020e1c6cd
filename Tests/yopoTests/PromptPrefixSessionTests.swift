import Foundation
import XCTest
import YOPO
import YOPOPruning

/// A session's shared prompt prefix (an eval's image-prefix cache): questions continuing one prefix
/// get exactly what making their own prefix gives — text, ids, FLOPs — for dense, YOPO and every
/// token-pruning method, and the same answers as one prefill of the whole prompt.
final class PromptPrefixSessionTests: XCTestCase {
    func session() throws -> Session { try SharedSession.tinyLLaVA() }

    let specs = ["none", "yopo:window=3,layers=2,ffn=4", "fastv:k=2,keep=98", "pdrop:layers=1/2,ratio=0.5", "sparsevlm:layers=1,keep=100"]
    let questions = ["What is shown?", "Is there a cat?\nAnswer the question using a single word or phrase.", "Describe the colors."]

    func request(_ question: String, _ spec: String, image: ImageInput, mode: YOPOMode = .skip) throws -> GenerationRequest {
        GenerationRequest(
            prompt: question, images: [image], parameters: .init(maxTokens: 8), prune: try PruningSpec(parsing: spec), yopoMode: mode)
    }

    func testContinuingAPrefixEqualsItsOwnPrefixAndOnePrefill() throws {
        let session = try session()
        let image = ImageInput.path(Paths.image("chelsea.png"))
        let encoded = try session.encodeImages([image])
        for spec in specs {
            for mode in spec.hasPrefix("yopo") ? YOPOMode.allCases : [.skip] {
                let shared = try XCTUnwrap(session.makePrefix(try request(questions[0], spec, image: image, mode: mode), images: encoded))
                XCTAssertEqual(
                    shared.reusedLayers,
                    ["fastv:k=2,keep=98": 1, "pdrop:layers=1/2,ratio=0.5": 1, "sparsevlm:layers=1,keep=100": 1][spec] ?? 3)
                for question in questions {
                    let r = try request(question, spec, image: image, mode: mode)
                    let reused = try session.generate(r, prefix: shared)
                    let own = try session.generate(r, prefix: try XCTUnwrap(session.makePrefix(r)))
                    let alone = try session.generate(r)
                    XCTAssertEqual(reused.text, own.text, "\(spec) \(mode) \(question)")
                    XCTAssertEqual(reused.tokenIDs, own.tokenIDs, "\(spec) \(mode)")
                    XCTAssertEqual(reused.flops, own.flops, "\(spec) \(mode)")
                    XCTAssertEqual(reused.prune, own.prune, "\(spec) \(mode)")
                    XCTAssertEqual(reused.promptTokens, alone.promptTokens, "\(spec) \(mode)")
                    XCTAssertEqual(reused.tokenIDs, alone.tokenIDs, "\(spec) \(mode) \(question): one prefill answers differently")
                    XCTAssertEqual(reused.prune.keptImageTokens, alone.prune.keptImageTokens, "\(spec) \(mode)")
                    XCTAssertEqual(reused.flops.vision, alone.flops.vision, "\(spec) \(mode)")
                }
            }
        }
    }

    func testAPrefixRefusesRequestsItDoesNotStart() throws {
        let session = try session()
        let image = ImageInput.path(Paths.image("chelsea.png"))
        let shared = try XCTUnwrap(session.makePrefix(try request("What is shown?", "none", image: image)))
        let other = ImageInput.path(Paths.image("rocket.jpg"))
        XCTAssertThrowsError(try session.generate(try request("What is shown?", "none", image: other), prefix: shared)) {
            XCTAssertEqual("\($0)", "invalid option: the request's images are not the prefix's (1 image(s))")
        }
        XCTAssertThrowsError(try session.generate(try request("What is shown?", "fastv:k=2,keep=98", image: image), prefix: shared)) {
            XCTAssertEqual("\($0)", "invalid option: the request prunes with fastv:k=2,keep=98 (skip); the prefix was made for none (skip)")
        }
        var system = try request("What is shown?", "none", image: image)
        system.messages.insert(.system("You are terse."), at: 0)
        XCTAssertThrowsError(try session.generate(system, prefix: shared)) {
            XCTAssertTrue("\($0)".contains("the prompt does not continue the given prefix"), "\($0)")
        }
        XCTAssertThrowsError(try session.makePrefix(try request("x", "none", image: image), images: try session.encodeImages([other]))) {
            XCTAssertEqual("\($0)", "invalid option: the encoded images are not the request's")
        }
        // Nothing to share without an image followed by text.
        XCTAssertNil(try session.makePrefix(GenerationRequest(prompt: "Hello")))
    }
}
