import Foundation
import XCTest
import YOPO
import YOPOCore
@testable import YOPOModels
@testable import YOPOEngine

/// The same seed gives the same tokens whatever `--threads` is (issue 11: with `--temperature 0.8
/// --seed 7`, 1 and 2 threads diverged at token 13, so the same seed gave other text on machines
/// with other core counts). Greedy too.
///
/// The bundled checkpoint's products and attention are all below the sizes from which work is
/// shared out (`ExecutionContext.parallelMinimumMultiplyAdds`, `.decodeAttentionParallelMinimum`), so
/// on it every thread count would run the same one-thread code. The test's pipelines lower both
/// thresholds (in their own execution context, nothing global) so that every product is cut into
/// tiles and shared out, and the prefill's and decode's attention heads too.
final class ThreadDeterminismTests: XCTestCase {
    let lowered = ExecutionContext(parallelMinimumMultiplyAdds: 1 << 10, decodeAttentionParallelMinimum: 1)

    /// Ten seeds at temperature 0.8 and greedy, each with 1, 2 and 3 threads on the bundled checkpoint.
    func testSampledTokensAreIdenticalFor1To3Threads() throws {
        // The thresholds really put the checkpoint's work on several threads: its FFN products
        // (591 × 64 × 24), lm_head row (1 × 32064 × 24) and prefill attention are shared out.
        lowered.run {
            XCTAssertGreaterThan(MatMul.GEMMTiles(m: 591, n: 64, k: 24).count, 1)
            XCTAssertGreaterThan(MatMul.GEMMTiles(m: 1, n: 32064, k: 24).count, 1)
            XCTAssertEqual(attentionParallelMinimum(heads: 4, rows: 591, keys: 591, headDim: 6), 1)
        }
        XCTAssertEqual(MatMul.GEMMTiles(m: 591, n: 64, k: 24).count, 1, "the defaults are untouched")
        let seeds: [UInt64] = Array(1...10)
        var runs: [Int: [[Int]]] = [:]
        var greedy: [Int: [Int]] = [:]
        for threads in 1...3 {
            var options = SessionOptions()
            options.threads = threads
            options.execution = lowered
            let pipeline = try Session(modelDirectory: Paths.model("llava-hf-tiny"), options: options)
            XCTAssertEqual(pipeline.context.threads, threads)
            XCTAssertEqual(pipeline.context.parallelMinimumMultiplyAdds, 1 << 10)
            runs[threads] = try seeds.map { seed in
                try pipeline.generate(
                    GenerationRequest(
                        prompt: "What is shown?", imagePaths: [Paths.image("chelsea.png")],
                        parameters: .init(maxTokens: 32, temperature: 0.8, topP: 0.95, seed: seed))
                ).tokenIDs
            }
            greedy[threads] = try pipeline.generate(
                GenerationRequest(
                    prompt: "What is shown?", imagePaths: [Paths.image("chelsea.png")],
                    parameters: .init(maxTokens: 20))
            ).tokenIDs
        }
        for seed in seeds.indices {
            XCTAssertEqual(runs[1]![seed], runs[2]![seed], "seed \(seeds[seed]): 1 vs 2 threads")
            XCTAssertEqual(runs[1]![seed], runs[3]![seed], "seed \(seeds[seed]): 1 vs 3 threads")
        }
        // The runs really sample: seeds give different texts, none of them the greedy one.
        XCTAssertEqual(Set(runs[1]!).count, seeds.count)
        XCTAssertFalse(runs[1]!.contains(greedy[1]!))
        XCTAssertEqual(greedy[1], greedy[2])
        XCTAssertEqual(greedy[1], greedy[3])
    }
}
