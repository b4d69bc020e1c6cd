import Foundation

/// Bad-input sweep: option values of every subcommand. Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
let sweepCLIValueCases: [SweepCase] = {
    let hf = Paths.model("llava-hf-tiny"), image = Paths.image("chelsea.png")
    /// `generate` on the tiny checkpoint without `--max-tokens` (so a row can give its own).
    func generate(_ extra: [String]) -> [String] {
        ["generate", "--model", hf, "--image", image, "--prompt", "What is shown?"] + extra
    }
    func compare(_ extra: [String]) -> [String] {
        ["compare", "--model", hf, "--image", image, "--prompt", "What is shown?", "--budget", "25%"] + extra
    }
    @Sendable func compareInput(_ path: String) -> [String] { ["compare", "--model", hf, "--input", path, "--budget", "25%"] }
    let b7 = ["flops", "--arch", "llava-1.5-7b"]
    // The sweep's `ulimit -v` of 8 GiB leaves room for (8 GiB − 1 GiB headroom) / 160 MiB = 44 threads.
    let threadLimit = "; each compute thread reserves about 160 MiB of address space and the limit (ulimit -v) is 8.0 GiB"
    var cases: [SweepCase] = []
    func add(_ name: String, _ message: String, _ arguments: [String]) {
        cases.append(SweepCase(.cliValues, name, message: message, arguments))
    }

    // MARK: generate: integers
    add("generate-max-tokens-negative", "--max-tokens must be at least 1 (got -1)", generate(["--max-tokens", "-1"]))
    add("generate-max-tokens-zero", "--max-tokens must be at least 1 (got 0)", generate(["--max-tokens", "0"]))
    add(
        "generate-max-tokens-beyond-int", "--max-tokens must be at most 1048576 (got 99999999999999999999)",
        generate(["--max-tokens", "99999999999999999999"]))
    add(
        "generate-max-tokens-int-max", "--max-tokens must be at most 1048576 (got 9223372036854775807)",
        generate(["--max-tokens", "9223372036854775807"]))
    add("generate-max-tokens-word", "--max-tokens 'many' is not an integer (allowed: 1 to 1048576)", generate(["--max-tokens", "many"]))
    add("generate-max-tokens-fraction", "--max-tokens '2.5' is not an integer (allowed: 1 to 1048576)", generate(["--max-tokens", "2.5"]))
    add(
        "generate-max-tokens-empty", "--max-tokens is empty; expected maximum number of tokens to generate, 1 to 1048576",
        generate(["--max-tokens", ""]))
    add("generate-top-k-negative", "--top-k must be at least 0 (got -5)", generate(["--top-k", "-5"]))
    add("generate-top-k-huge", "--top-k must be at most 1048576 (got 2000000)", generate(["--top-k", "2000000"]))
    add("generate-seed-negative", "--seed must be at least 0 (got -1)", generate(["--seed", "-1"]))
    add(
        "generate-seed-beyond-uint64", "--seed must be at most 18446744073709551615 (got 18446744073709551616)",
        generate(["--seed", "18446744073709551616"]))
    add("generate-seed-hex", "--seed '0x10' is not an integer (allowed: 0 to 18446744073709551615)", generate(["--seed", "0x10"]))
    add("generate-threads-zero", "--threads must be at least 1 (got 0)", generate(["--threads", "0"]))
    add("generate-threads-negative", "--threads must be at least 1 (got -1)", generate(["--threads", "-1"]))
    add(
        "generate-threads-beyond-address-space", "--threads must be at most 44 (got 1000)" + threadLimit,
        generate(["--threads", "1000"]))

    // MARK: generate: numbers
    add("generate-temperature-negative", "--temperature must be at least 0 (got -1)", generate(["--temperature", "-1"]))
    add(
        "generate-temperature-nan", "--temperature must be a finite number (got nan; allowed: a finite number ≥ 0)",
        generate(["--temperature", "nan"]))
    add(
        "generate-temperature-inf", "--temperature must be a finite number (got inf; allowed: a finite number ≥ 0)",
        generate(["--temperature", "inf"]))
    add(
        "generate-temperature-beyond-float", "--temperature must be a finite number (got 1e39; allowed: a finite number ≥ 0)",
        generate(["--temperature", "1e39"]))
    add(
        "generate-temperature-word", "--temperature 'hot' is not a number (allowed: a finite number ≥ 0)",
        generate(["--temperature", "hot"]))
    add("generate-top-p-zero", "--top-p must be in (0, 1] (got 0)", generate(["--top-p", "0"]))
    add("generate-top-p-above-one", "--top-p must be in (0, 1] (got 1.5)", generate(["--top-p", "1.5"]))
    add("generate-top-p-negative", "--top-p must be in (0, 1] (got -0.5)", generate(["--top-p", "-0.5"]))

    // MARK: generate: words and paths
    add("generate-compute-unknown", "unknown --compute fp8 (choose from auto, fp32, bf16)", generate(["--compute", "fp8"]))
    add(
        "generate-image-aspect-unknown", "unknown --image-aspect stretch (choose from pad, crop)",
        generate(["--image-aspect", "stretch"]))
    add("generate-yopo-mode-unknown", "unknown --yopo-mode fast (choose from skip, simulate)", generate(["--yopo-mode", "fast"]))
    add(
        "generate-model-empty", "--model is empty; expected checkpoint directory (config.json + safetensors)",
        ["generate", "--model", "", "--image", image, "--prompt", "x"])
    add(
        "generate-image-empty", "--image is empty; expected image file (JPEG or PNG); repeat it for several images",
        ["generate", "--model", hf, "--image", "", "--prompt", "x"])
    add(
        "generate-vision-tower-blank", "--vision-tower is empty; expected CLIP vision tower directory (original LLaVA layout)",
        generate(["--vision-tower", "  "]))

    // MARK: bench
    add("bench-runs-negative", "--runs must be at least 1 (got -2)", ["bench", "--runs", "-2"])
    add("bench-runs-huge", "--runs must be at most 1000 (got 1000000)", ["bench", "--runs", "1000000"])
    add("bench-warmup-negative", "--warmup must be at least 0 (got -1)", ["bench", "--warmup", "-1"])
    add(
        "bench-visual-tokens-billion", "--visual-tokens must be at most 1048576 (got 1000000000)",
        ["bench", "--visual-tokens", "1000000000"])
    add("bench-visual-tokens-zero", "--visual-tokens must be at least 1 (got 0)", ["bench", "--visual-tokens", "0"])
    add("bench-grid-zero-rows", "--grid '0x24' is not ROWSxCOLUMNS with positive sizes (e.g. 24x24)", ["bench", "--grid", "0x24"])
    add("bench-grid-three-sides", "--grid '24x24x2' is not ROWSxCOLUMNS with positive sizes (e.g. 24x24)", ["bench", "--grid", "24x24x2"])
    add(
        "bench-grid-overflowing-product", "--grid '99999999999x99999999999' has more than 1048576 cells",
        ["bench", "--grid", "99999999999x99999999999"])
    add("bench-grid-and-visual-tokens", "give --visual-tokens or --grid, not both", ["bench", "--grid", "24x24", "--visual-tokens", "576"])
    add("bench-system-tokens-negative", "--system-tokens must be at least 0 (got -1)", ["bench", "--system-tokens", "-1"])
    add("bench-text-tokens-zero", "--text-tokens must be at least 1 (got 0)", ["bench", "--text-tokens", "0"])
    add("bench-decode-tokens-huge", "--decode-tokens must be at most 65536 (got 100000)", ["bench", "--decode-tokens", "100000"])
    add("bench-layers-zero", "--layers must be at least 1 (got 0)", ["bench", "--layers", "0"])
    add("bench-layers-above-arch", "--layers 33 exceeds llava-1.5-7b's 32", ["bench", "--layers", "33"])
    add(
        "bench-prompt-over-limit",
        "the prompt has 2097181 tokens (1048576 system + 1048575 visual + 30 text), more than 1048576; lower --system-tokens, --visual-tokens (--grid) or --text-tokens",
        ["bench", "--system-tokens", "1048576", "--visual-tokens", "1048575"])
    add(
        "bench-arch-unknown", "unknown --arch llava-1.5-70b (choose from llava-1.5-13b, llava-1.5-7b, qwen2-vl-7b, qwen2.5-vl-7b)",
        ["bench", "--arch", "llava-1.5-70b"]
    )
    add(
        "bench-random-weights-unknown", "unknown --random-weights int8 (choose from bf16, fp32)",
        ["bench", "--random-weights", "int8"])
    add("bench-yopo-mode-unknown", "unknown --yopo-mode quick (choose from skip, simulate)", ["bench", "--yopo-mode", "quick"])
    add("bench-threads-word", "--threads 'all' is not an integer (allowed: 1 to 44)", ["bench", "--threads", "all"])
    add(
        "bench-model-is-a-file", "model directory \(hf)/config.json is a file, not a checkpoint directory",
        ["bench", "--model", hf + "/config.json"])
    add("bench-model-and-arch", "give --arch or --model, not both", ["bench", "--model", hf, "--arch", "llava-1.5-7b"])
    add(
        "bench-shared-layers-with-model", "--shared-layers goes with --arch (random weights), not --model",
        ["bench", "--model", hf, "--shared-layers"])
    // Memory refused up front: 7B with distinct bf16 layers is ~14 GB of weights, more than 8 GiB of address space.
    add(
        "bench-7b-distinct-layers-memory",
        "bench needs about 15.8 GiB for llava-1.5-7b (32 distinct bf16 layers, 641 prompt tokens, 16 decode steps), more than the 8.0 GiB address-space limit (ulimit -v) leaves; use --layers N or --shared-layers",
        ["bench"])
    // 13B does not fit a 24 GiB machine either (the first limit it breaks depends on the machine).
    add(
        "bench-13b-distinct-layers-memory",
        "bench needs about 28.3 GiB for llava-1.5-13b (40 distinct bf16 layers, 641 prompt tokens, 16 decode steps)",
        ["bench", "--arch", "llava-1.5-13b"])
    add(
        "bench-fp32-slice-memory",
        "bench needs about 8.3 GiB for llava-1.5-7b (6 distinct fp32 layers, 641 prompt tokens, 16 decode steps), more than the 8.0 GiB address-space limit (ulimit -v) leaves; use --layers N or --shared-layers",
        ["bench", "--random-weights", "fp32", "--layers", "6"])
    // The run fits; 44 threads' reservations (160 MiB each) on top of it do not.
    add(
        "bench-threads-address-space",
        "bench needs about 1.3 GiB for llava-hf-tiny's activations and caches (641 prompt tokens, 1 decode step) and 44 threads reserve about 6.9 GiB, more than the 8.0 GiB address-space limit (ulimit -v) leaves; use --threads ",
        ["bench", "--model", hf, "--threads", "44", "--decode-tokens", "1"])
    add(
        "bench-million-tokens-memory",
        "bench needs about 358.9 GiB for llava-1.5-7b (1 layer sharing one bf16 weight set, 1000065 prompt tokens, 16 decode steps)",
        ["bench", "--shared-layers", "--layers", "1", "--visual-tokens", "1000000"])

    // MARK: bench-gemm
    add(
        "gemm-shape-memory",
        "bench-gemm needs about 186.3 GiB for --shape 100000x100000x100000", ["bench-gemm", "--shape", "100000x100000x100000"])
    add(
        "gemm-shape-address-space",
        "bench-gemm needs about 7.5 GiB for --shape 20000x20000x20000, more than the 8.0 GiB address-space limit (ulimit -v) leaves; use smaller sizes",
        ["bench-gemm", "--shape", "20000x20000x20000"])
    add(
        "gemm-shape-above-32-bits",
        "--shape 4294967296x4096x4096 has a size above 16777216 (each of M, K, N must be 1 to 16777216)",
        ["bench-gemm", "--shape", "4294967296x4096x4096"])
    add(
        "gemm-shape-beyond-int",
        "--shape 1x99999999999999999999x1 has a size above 16777216 (each of M, K, N must be 1 to 16777216)",
        ["bench-gemm", "--shape", "1x99999999999999999999x1"])
    add("gemm-shape-zero", "--shape 0x1x1 is not MxKxN with positive sizes (e.g. 641x4096x11008)", ["bench-gemm", "--shape", "0x1x1"])
    add(
        "gemm-shape-two-sizes", "--shape 641x4096 is not MxKxN with positive sizes (e.g. 641x4096x11008)",
        ["bench-gemm", "--shape", "641x4096"])
    add(
        "gemm-shape-negative", "--shape -1x4096x4096 is not MxKxN with positive sizes (e.g. 641x4096x11008)",
        ["bench-gemm", "--shape", "-1x4096x4096"])
    // The second of two shapes is the bad one.
    add(
        "gemm-second-shape-bad", "--shape 1xkx1 is not MxKxN with positive sizes (e.g. 641x4096x11008)",
        ["bench-gemm", "--shape", "1x8x8", "--shape", "1xkx1"])
    add("gemm-runs-zero", "--runs must be at least 1 (got 0)", ["bench-gemm", "--runs", "0"])

    // MARK: flops
    add(
        "flops-visual-tokens-int-max", "--visual-tokens must be at most 16777216 (got 9223372036854775807)",
        b7 + ["--visual-tokens", "9223372036854775807"])
    add("flops-system-tokens-negative", "--system-tokens must be at least 0 (got -1)", b7 + ["--system-tokens", "-1"])
    add("flops-prompt-tokens-word", "--prompt-tokens 'lots' is not an integer (allowed: 0 to 16777216)", b7 + ["--prompt-tokens", "lots"])
    add("flops-decode-steps-huge", "--decode-steps must be at most 65536 (got 70000)", b7 + ["--decode-steps", "70000"])
    add(
        "flops-grid-overflowing-product", "--grid '9999999999x9999999999' has more than 16777216 cells",
        b7 + ["--grid", "9999999999x9999999999"])
    add("flops-grid-zero", "--grid '0x24' is not ROWSxCOLUMNS with positive sizes (e.g. 24x24)", b7 + ["--grid", "0x24"])
    add(
        "flops-convention-unknown", "unknown --convention foo (choose from yopo, fastv, pdrop, sparsevlm, full)",
        b7 + ["--convention", "foo"])
    add("flops-mode-unknown", "unknown --mode fast (choose from skip, simulate)", b7 + ["--convention", "full", "--mode", "fast"])
    add(
        "flops-full-beyond-64-bits", "invalid prompt layout: the run's FLOPs would exceed the 64-bit integer range",
        b7 + ["--grid", "4095x4096", "--convention", "full"])
    add(
        "flops-prompt-beyond-limit", "invalid prompt layout: the prompt has more than 16777216 tokens",
        b7 + ["--system-tokens", "16777216", "--prompt-tokens", "16777216"])

    // MARK: compare
    add("compare-steps-zero", "--steps must be at least 1 (got 0)", compare(["--steps", "0"]))
    add("compare-steps-negative", "--steps must be at least 1 (got -3)", compare(["--steps", "-3"]))
    add(
        "compare-steps-beyond-int", "--steps must be at most 1048576 (got 123456789012345678901)",
        compare(["--steps", "123456789012345678901"]))
    add("compare-threads-negative", "--threads must be at least 1 (got -4)", compare(["--threads", "-4"]))
    add(
        "compare-convention-unknown", "unknown --convention foo (choose from yopo, fastv, pdrop, sparsevlm)",
        compare(["--convention", "foo"]))
    add(
        "compare-convention-full", "unknown --convention full (choose from yopo, fastv, pdrop, sparsevlm)",
        compare(["--convention", "full"]))
    add("compare-yopo-mode-unknown", "unknown --yopo-mode fast (choose from skip, simulate)", compare(["--yopo-mode", "fast"]))
    add(
        "compare-budget-above-100", "invalid budget: '150%' is outside (0%, 100%]",
        ["compare", "--model", hf, "--image", image, "--prompt", "x", "--budget", "150%"])
    add(
        "compare-budget-negative", "invalid budget: '-5%' is outside (0%, 100%]",
        ["compare", "--model", hf, "--image", image, "--prompt", "x", "--budget", "-5%"])
    add(
        "compare-input-missing", "cannot read --input '/nonexistent/samples.jsonl': no such file",
        compareInput("/nonexistent/samples.jsonl"))
    add("compare-input-device", "--input '/dev/zero' is not a regular file", compareInput("/dev/zero"))
    cases.append(
        SweepCase(.cliValues, "compare-input-directory", message: "is a directory, not a JSONL file") { s in
            try s.write("samples/keep", Data())
            return compareInput(s.path("samples"))
        })
    cases.append(
        SweepCase(
            .cliValues, "compare-input-not-json",
            message: "line 1 is not a JSON object (each line: {\"image\": PATH, \"prompt\": TEXT})"
        ) { s in
            compareInput(try s.write("bad.jsonl", Data("image=chelsea.png\n".utf8)))
        })
    cases.append(
        SweepCase(.cliValues, "compare-input-array-line", message: "line 2 is not a JSON object") { s in
            compareInput(try s.write("array.jsonl", Data("{\"image\": \"\(image)\", \"prompt\": \"a\"}\n[1, 2]\n".utf8)))
        })
    cases.append(
        SweepCase(.cliValues, "compare-input-no-image", message: "line 2 has no \"image\" string") { s in
            compareInput(try s.write("no-image.jsonl", Data("{\"image\": \"\(image)\", \"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n".utf8)))
        })
    cases.append(
        SweepCase(.cliValues, "compare-input-number-prompt", message: "line 1 has no \"prompt\" string") { s in
            compareInput(try s.write("number.jsonl", Data("{\"image\": \"\(image)\", \"prompt\": 5}\n".utf8)))
        })
    cases.append(
        SweepCase(.cliValues, "compare-input-blank-prompt", message: "line 3 has no \"prompt\" string") { s in
            compareInput(
                try s.write(
                    "blank.jsonl",
                    Data("\n{\"image\": \"\(image)\", \"prompt\": \"a\"}\n{\"image\": \"\(image)\", \"prompt\": \"  \"}\n".utf8)))
        })
    cases.append(
        SweepCase(.cliValues, "compare-input-no-samples", message: "has no samples (one {\"image\", \"prompt\"} object per line)") { s in
            compareInput(try s.write("empty.jsonl", Data("\n \n\n".utf8)))
        })
    cases.append(
        SweepCase(.cliValues, "compare-input-not-utf8", message: "is not UTF-8 text") { s in
            compareInput(try s.write("binary.jsonl", Data([0xFF, 0xFE, 0x7B, 0x00, 0xC3])))
        })
    cases.append(
        SweepCase(.cliValues, "compare-input-missing-image-file", message: "cannot read image") { s in
            compareInput(try s.write("missing.jsonl", Data("{\"image\": \"gone.png\", \"prompt\": \"a\"}\n".utf8)))
        })
    return cases
}()
