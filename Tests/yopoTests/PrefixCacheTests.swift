import Foundation
import XCTest
import YOPO
import YOPOPruning

/// The image-prefix cache a server keeps (`PrefixCache`): a second question about the same image
/// bytes prefills only its text and answers exactly as the first path would; an entry is never
/// served for other bytes, other pruning or another prompt start; the cache stays within its bytes.
final class PrefixCacheTests: XCTestCase {
    func session() throws -> Session { try SharedSession.tinyLLaVA() }

    func bytes(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: Paths.image(name))) }

    func request(_ question: String, _ image: Data, spec: String = "none", mode: YOPOMode = .skip) throws -> GenerationRequest {
        GenerationRequest(
            prompt: question, images: [.data(image)], parameters: .init(maxTokens: 6), prune: try PruningSpec(parsing: spec),
            yopoMode: mode)
    }

    func testASecondQuestionAboutTheSameBytesReusesTheFirstPrefix() throws {
        let session = try session()
        let cache = PrefixCache(capacityBytes: 1 << 30)
        let chelsea = try bytes("chelsea.png")
        for spec in ["none", "yopo:window=3,layers=2,ffn=4", "fastv:k=2,keep=98"] {
            let first = try session.generate(try request("What is shown?", chelsea, spec: spec), prefixCache: cache)
            let second = try session.generate(try request("Describe the colors.", chelsea, spec: spec), prefixCache: cache)
            let firstUse = try XCTUnwrap(first.prefixCache, spec)
            let secondUse = try XCTUnwrap(second.prefixCache, spec)
            XCTAssertFalse(firstUse.hit, spec)
            XCTAssertTrue(secondUse.hit, spec)
            XCTAssertEqual(secondUse.prefixTokens, firstUse.prefixTokens, spec)
            XCTAssertEqual(secondUse.cachedTokens, secondUse.prefixTokens, spec)
            XCTAssertEqual(firstUse.cachedTokens, 0, spec)
            // A hit's answer is the answer without a cache, through the shared prefix path.
            let prefix = try XCTUnwrap(session.makePrefix(try request("Describe the colors.", chelsea, spec: spec)))
            let own = try session.generate(try request("Describe the colors.", chelsea, spec: spec), prefix: prefix)
            XCTAssertEqual(second.tokenIDs, own.tokenIDs, spec)
            XCTAssertEqual(second.text, own.text, spec)
            XCTAssertEqual(second.flops, own.flops, spec)
            XCTAssertEqual(secondUse.prefixFLOPs, prefix.flops.total, spec)
            // The hit did no image or vision work.
            XCTAssertEqual(second.timingsMS.image, 0, spec)
            XCTAssertEqual(second.timingsMS.vision, 0, spec)
        }
        XCTAssertEqual(cache.statistics.hits, 3)
        XCTAssertEqual(cache.statistics.misses, 3)
        XCTAssertEqual(cache.statistics.entries, 3)
    }

    func testKeysNeverServeOneImagesPrefixForAnother() throws {
        let session = try session()
        let cache = PrefixCache(capacityBytes: 1 << 30)
        let chelsea = try bytes("chelsea.png")
        let rocket = try bytes("rocket.jpg")
        _ = try session.generate(try request("What is shown?", chelsea), prefixCache: cache)
        // The same bytes under another name (read from a copy) hit.
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("prefix-cache-copy-\(getpid()).png")
        try chelsea.write(to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let same = try session.generate(try request("What is shown?", try Data(contentsOf: copy)), prefixCache: cache)
        XCTAssertEqual(same.prefixCache?.hit, true)
        // Other bytes, one byte changed, other pruning, the other mode, another system prompt: misses,
        // each answering as it does alone through its own prefix.
        var changed = chelsea
        changed[changed.count - 5] ^= 0x01
        let misses: [GenerationRequest] = [
            try request("What is shown?", rocket),
            try request("What is shown?", chelsea, spec: "yopo:window=3,layers=2,ffn=4"),
            try request("What is shown?", chelsea, spec: "yopo:window=3,layers=2,ffn=4", mode: .simulate),
            GenerationRequest(
                messages: [.system("Answer briefly."), .user("What is shown?", images: [.data(chelsea)])],
                parameters: .init(maxTokens: 6))
        ]
        for (i, r) in misses.enumerated() {
            let result = try session.generate(r, prefixCache: cache)
            XCTAssertEqual(result.prefixCache?.hit, false, "request \(i)")
            let own = try session.generate(r, prefix: try XCTUnwrap(session.makePrefix(r)))
            XCTAssertEqual(result.tokenIDs, own.tokenIDs, "request \(i)")
        }
        // One byte changed is another key: a miss (or an image that no longer decodes), never a hit.
        if let result = try? session.generate(try request("What is shown?", changed), prefixCache: cache) {
            XCTAssertEqual(result.prefixCache?.hit, false)
        }
        // Paths are not keyed (only bytes are): no cache use.
        let byPath = try session.generate(
            GenerationRequest(prompt: "What is shown?", imagePaths: [Paths.image("chelsea.png")], parameters: .init(maxTokens: 6)),
            prefixCache: cache)
        XCTAssertNil(byPath.prefixCache)
    }

    func testAnotherPreprocessingOfTheSameImageMisses() throws {
        // llava-hf-tiny centre-crops; the same checkpoint loaded with padding squares the image
        // differently: one cache serving both must keep them apart.
        let crop = try session()
        let pad = try Session(modelDirectory: Paths.model("llava-hf-tiny"), options: SessionOptions(imageAspectMode: .pad))
        XCTAssertNotEqual(crop.prefixScope, pad.prefixScope)
        let cache = PrefixCache(capacityBytes: 1 << 30)
        let chelsea = try bytes("chelsea.png")
        let cropped = try crop.generate(try request("What is shown?", chelsea), prefixCache: cache)
        XCTAssertEqual(cropped.prefixCache?.hit, false)
        let padded = try pad.generate(try request("What is shown?", chelsea), prefixCache: cache)
        XCTAssertEqual(padded.prefixCache?.hit, false)
        XCTAssertEqual(padded.tokenIDs, try pad.generate(try request("What is shown?", chelsea)).tokenIDs)
        XCTAssertEqual(try crop.generate(try request("Why?", chelsea), prefixCache: cache).prefixCache?.hit, true)
        XCTAssertEqual(try pad.generate(try request("Why?", chelsea), prefixCache: cache).prefixCache?.hit, true)
        XCTAssertEqual(cache.statistics.entries, 2)
    }

    func testTheCacheStaysWithinItsBytesEvictingTheLeastRecentlyUsed() throws {
        let session = try session()
        let chelsea = try bytes("chelsea.png")
        let rocket = try bytes("rocket.jpg")
        let probe = try XCTUnwrap(session.makePrefix(try request("What is shown?", chelsea)))
        // Room for one prefix of this size, not two.
        let cache = PrefixCache(capacityBytes: probe.bytes + probe.bytes / 2)
        _ = try session.generate(try request("What is shown?", chelsea), prefixCache: cache)
        _ = try session.generate(try request("What is shown?", rocket), prefixCache: cache)
        XCTAssertEqual(cache.statistics.entries, 1)
        XCTAssertEqual(cache.statistics.evictions, 1)
        XCTAssertLessThanOrEqual(cache.statistics.bytes, cache.capacityBytes)
        XCTAssertEqual(try session.generate(try request("Why?", rocket), prefixCache: cache).prefixCache?.hit, true)
        XCTAssertEqual(try session.generate(try request("Why?", chelsea), prefixCache: cache).prefixCache?.hit, false)
        // A capacity below one prefix keeps nothing, and every request still runs.
        let none = PrefixCache(capacityBytes: 0)
        _ = try session.generate(try request("What is shown?", chelsea), prefixCache: none)
        XCTAssertEqual(try session.generate(try request("What is shown?", chelsea), prefixCache: none).prefixCache?.hit, false)
        XCTAssertEqual(none.statistics.entries, 0)
    }
}
