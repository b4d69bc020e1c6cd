import Foundation
import XCTest

/// The command line itself: `--version` and help exit 0 with their text on stdout, the default
/// subcommand still runs without its word, and `--prompt -` reads the prompt from stdin.
final class CommandLineTests: XCTestCase {
    let hf = Paths.model("llava-hf-tiny"), image = Paths.image("chelsea.png")

    func testVersionPrintsTheVersionAndExitsZero() throws {
        let run = try runYOPO(["--version"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, "yopo 0.1.0\n")
        XCTAssertEqual(run.stderr, "")
    }

    func testRootHelpListsEveryCommandAndExitsZero() throws {
        for arguments in [["--help"], ["-h"], ["help"]] {
            let run = try runYOPO(arguments)
            XCTAssertEqual(run.status, 0, "\(arguments): \(run.stderr)")
            XCTAssertEqual(run.stderr, "", "\(arguments)")
            XCTAssertTrue(run.stdout.hasPrefix("OVERVIEW: Run vision-language models on the CPU, with YOPO visual pruning."), run.stdout)
            for command in ["generate (default)", "bench ", "bench-gemm ", "flops ", "compare "] {
                XCTAssertTrue(run.stdout.contains("  " + command), "\(arguments): no \(command) in \(run.stdout)")
            }
            XCTAssertTrue(run.stdout.contains("yopo --version prints the version."), run.stdout)
        }
    }

    /// `generate --help` names every pruning method with one example, and the stdin prompt.
    func testGenerateHelpListsEveryPruningMethod() throws {
        for arguments in [["generate", "--help"], ["help", "generate"], ["generate", "--model", hf, "-h"]] {
            let run = try runYOPO(arguments + [], timeout: 60)
            XCTAssertEqual(run.status, 0, "\(arguments): \(run.stderr)")
            XCTAssertEqual(run.stderr, "")
            XCTAssertTrue(run.stdout.hasPrefix("OVERVIEW: Answer a prompt about one or more images."), run.stdout)
            // Help wraps lines; compare without the line breaks and indentation.
            let flat = run.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            XCTAssertTrue(
                flat.contains(
                    "--prune <spec> Visual-computation pruning, one spec: none | yopo:window=5,layers=16,heads-keep=16,ffn=2 | yopo-25 "
                        + "| yopo-12 | fastv:k=2,r=0.5 | pdrop:layers=8/16/24,ratio=0.5 | sparsevlm:tokens=192 (docs/PRUNING.md)."),
                "\(arguments): \(flat.prefix(300))")
            // Then each method's example with what its fields allow.
            for line in [
                "fastv:k=2,r=0.5: FastV: after layer k (1 to L−1, default 2)", "sparsevlm:tokens=192: SparseVLM v1.5:",
                "pdrop:layers=8/16/24,ratio=0.5: PyramidDrop:", "yopo-12: YOPO preset, about 12% of the visual FLOPs"
            ] {
                XCTAssertTrue(flat.contains(line), "\(arguments): --prune help lacks \(line)")
            }
            XCTAssertTrue(flat.contains("--prompt <text> The question or instruction; - reads it from stdin."), flat)
            XCTAssertTrue(flat.contains("--max-tokens <n> Maximum number of tokens to generate, 1 to 1048576. (default: 128)"), flat)
        }
    }

    func testSubcommandHelpExitsZero() throws {
        for command in ["bench", "bench-gemm", "flops", "compare"] {
            let run = try runYOPO([command, "--help"], timeout: 60)
            XCTAssertEqual(run.status, 0, "\(command): \(run.stderr)")
            XCTAssertEqual(run.stderr, "")
            XCTAssertTrue(run.stdout.contains("USAGE: yopo \(command) "), run.stdout)
        }
    }

    /// `--prompt -`: the prompt comes from stdin (its trailing newline dropped) and the answer is the
    /// reference's greedy ids for that prompt, exactly as with `--prompt "What is shown?"`.
    func testPromptFromStdin() throws {
        let golden = try GoldenIDs.load("hf_chelsea")
        let run = try runYOPO(
            ["generate", "--model", hf, "--image", image, "--prompt", "-", "--max-tokens", "20", "--json"],
            stdin: Data("What is shown?\n".utf8))
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["token_ids"] as? [Int], golden.greedy_ids)
        XCTAssertEqual(object["prompt_tokens"] as? Int, golden.input_ids.count)
    }

    /// No subcommand word: `generate`, the default, as before (same ids as the bundled default run).
    func testDefaultSubcommandStillRuns() throws {
        let golden = try GoldenIDs.load("hf_chelsea")
        let run = try runYOPO(["--model", hf, "--image", image, "--prompt", "What is shown?", "--max-tokens", "20", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["token_ids"] as? [Int], golden.greedy_ids)
    }

    /// `--option=value` and a value that starts with `-` (a negative number, a prompt) reach the command.
    func testValuesThatLookLikeOptions() throws {
        let run = try runYOPO([
            "generate", "--model=" + hf, "--image", image, "--prompt", "-- what is shown?",
            "--max-tokens=2", "--seed", "+3", "--json"
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["generated_tokens"] as? Int, 2)
    }
}
