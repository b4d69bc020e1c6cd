import Foundation

/// Bad-input sweep: subcommand words and command-line shape. Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
let sweepSubcommandCases: [SweepCase] = {
    let hf = Paths.model("llava-hf-tiny"), image = Paths.image("chelsea.png")
    let commands = "(commands: generate, bench, bench-gemm, flops, compare, eval, calibrate, analyze, serve)"
    var cases: [SweepCase] = []
    func add(_ name: String, _ message: String, stdin: Data? = nil, _ arguments: [String]) {
        cases.append(SweepCase(.subcommands, name, message: message, stdin: stdin, arguments))
    }

    // MARK: command words
    // `generate` is the default subcommand: these used to answer "Missing expected argument '--model'".
    for word in ["chat", "pull", "run", "ask"] {
        add("unknown-\(word)", "unknown command '\(word)' \(commands)", [word])
    }
    add("unknown-word-with-options", "unknown command 'chat' \(commands)", ["chat", "--model", hf, "--port", "8080"])
    add("misspelled-serve", "unknown command 'server' \(commands); did you mean 'serve'?", ["server", "--model", hf])
    add("misspelled-generate", "unknown command 'generat' \(commands); did you mean 'generate'?", ["generat", "--model", hf])
    add("misspelled-bench", "unknown command 'bnech' \(commands); did you mean 'bench'?", ["bnech"])
    add("misspelled-bench-gemm", "unknown command 'bench_gemm' \(commands); did you mean 'bench-gemm'?", ["bench_gemm"])
    add("misspelled-flops", "unknown command 'flop' \(commands); did you mean 'flops'?", ["flop", "--arch", "llava-1.5-7b"])
    add("capitalised-compare", "unknown command 'Compare' \(commands); did you mean 'compare'?", ["Compare"])
    add("prompt-as-command", "unknown command 'What is shown?' \(commands)", ["What is shown?"])
    add("empty-command-word", "empty command word \(commands)", [""])
    add(
        "no-arguments",
        "no command given: yopo generate --model DIR --image FILE --prompt TEXT answers a prompt about an image", [])
    add("help-for-unknown-command", "unknown command 'chat' \(commands)", ["help", "chat"])
    add("command-word-twice", "unexpected argument 'generate' for generate", ["generate", "generate", "--model", hf])

    // MARK: required options
    add(
        "generate-missing-model", "yopo generate needs --model DIR: the checkpoint directory (config.json + safetensors)",
        ["generate", "--image", image, "--prompt", "x"])
    add(
        "generate-missing-image", "yopo generate needs --image FILE: the JPEG or PNG image the prompt asks about",
        ["generate", "--model", hf, "--prompt", "x"])
    add(
        "generate-missing-prompt", "yopo generate needs --prompt TEXT: the question or instruction (--prompt - reads it from stdin)",
        ["generate", "--model", hf, "--image", image])
    add("default-command-missing-model", "yopo generate needs --model DIR", ["--image", image, "--prompt", "x"])

    // MARK: yopo serve (fails before or instead of listening; --port 0 so nothing collides)
    add("serve-missing-model", "yopo serve needs --model DIR: the checkpoint directory (config.json + safetensors)", ["serve"])
    add("serve-port-too-large", "--port must be at most 65535 (got 70000)", ["serve", "--model", hf, "--port", "70000"])
    add("serve-port-negative", "--port must be at least 0 (got -1)", ["serve", "--model", hf, "--port", "-1"])
    add("serve-queue-size-zero", "--queue-size must be at least 1 (got 0)", ["serve", "--model", hf, "--queue-size", "0"])
    add("serve-max-body-zero", "--max-body-mib must be at least 1 (got 0)", ["serve", "--model", hf, "--max-body-mib", "0"])
    add("serve-timeout-text", "--timeout 'x' is not an integer (allowed: 0 to 604800)", ["serve", "--model", hf, "--timeout", "x"])
    add(
        "serve-prefix-cache-negative", "--prefix-cache-mib must be at least 0 (got -1)",
        ["serve", "--model", hf, "--prefix-cache-mib", "-1"])
    add(
        "serve-allowed-image-dir-missing", "--allowed-image-dir /nonexistent/images is not a directory",
        ["serve", "--model", hf, "--port", "0", "--allowed-image-dir", "/nonexistent/images"])
    add(
        "serve-allowed-image-dir-is-file", "--allowed-image-dir \(image) is not a directory",
        ["serve", "--model", hf, "--port", "0", "--allowed-image-dir", image])
    add("serve-bad-prune", "invalid prune spec: 'bogus' is not none", ["serve", "--model", hf, "--port", "0", "--prune", "bogus"])
    add(
        "serve-model-missing", "invalid model configuration: model directory /nonexistent/model does not exist",
        ["serve", "--model", "/nonexistent/model", "--port", "0"])
    add("serve-bad-host", "cannot listen on 999.1.1.1:0: ", ["serve", "--model", hf, "--host", "999.1.1.1", "--port", "0"])

    // MARK: unknown options
    add(
        "misspelled-model-option", "unknown option '--modle' for generate; did you mean '--model'?",
        ["generate", "--modle", hf, "--image", image, "--prompt", "x"])
    add(
        "default-command-misspelled-option", "unknown option '--imgae' for generate; did you mean '--image'?",
        ["--model", hf, "--imgae", image, "--prompt", "x"])
    add(
        "bench-singular-option", "unknown option '--visual-token' for bench; did you mean '--visual-tokens'?",
        ["bench", "--visual-token", "5"])
    add("flops-unrelated-option", "unknown option '--frobnicate' for flops (see yopo flops --help)", ["flops", "--frobnicate"])
    add(
        "compare-option-of-generate", "unknown option '--max-tokens' for compare (see yopo compare --help)",
        ["compare", "--model", hf, "--max-tokens", "5"])
    add("short-option", "unknown option '-m' for generate: options are spelled --name", ["generate", "-m", hf])
    add(
        "version-in-subcommand", "unknown option '--version' for generate (yopo --version, alone, prints the version)",
        ["generate", "--version"])
    add(
        "version-with-more-words", "unknown option '--version' for generate (yopo --version, alone, prints the version)",
        ["--version", "--json"])

    // MARK: stray words, values and repeats
    add(
        "extra-positional", "unexpected argument 'extra' for generate: every value follows its option, e.g. --image FILE",
        sweepGenerate(["extra"]))
    add(
        "second-image-as-positional", "unexpected argument '\(image)' for generate",
        ["generate", "--model", hf, "--image", image, image, "--prompt", "x"])
    add("bench-positional-arch", "unexpected argument 'llava-1.5-7b' for bench", ["bench", "llava-1.5-7b"])
    add(
        "words-after-double-dash", "unexpected argument 'extra' after --: yopo generate takes options only",
        sweepGenerate(["--", "extra"]))
    add(
        "duplicate-image-compare", "only one --image is supported for now (--image is given twice)",
        ["compare", "--model", hf, "--image", image, "--image", image, "--prompt", "x", "--budget", "25%"])
    add("duplicate-model", "--model is given twice; give it once", sweepGenerate(["--model", hf]))
    add("duplicate-max-tokens", "--max-tokens is given twice; give it once", sweepGenerate(["--max-tokens", "3"]))
    add("duplicate-flag", "--json is given twice; give it once", sweepGenerate(["--json", "--json"]))
    add(
        "duplicate-flops-convention", "--convention is given twice; give it once",
        ["flops", "--arch", "llava-1.5-7b", "--convention", "yopo", "--convention=full"])
    add(
        "missing-value-at-end", "--max-tokens needs a value and nothing follows it; expected maximum number of tokens to generate",
        ["generate", "--model", hf, "--image", image, "--prompt", "x", "--max-tokens"])
    add(
        "value-is-an-option", "--model needs a value but the next word is the option --image",
        ["generate", "--model", "--image", image, "--prompt", "x"])
    add("flag-with-value", "--json is a flag and takes no value (got --json=yes)", sweepGenerate(["--json=yes"]))

    // MARK: prompts
    add("prompt-stdin-empty", "--prompt -: stdin is empty; pipe the question in", stdin: Data(), sweepGenerate(prompt: "-"))
    add(
        "prompt-stdin-blank", "--prompt -: stdin is empty; pipe the question in", stdin: Data("\n \n\t\n".utf8),
        sweepGenerate(prompt: "-"))
    add("prompt-stdin-dev-null", "--prompt -: stdin is empty", sweepGenerate(prompt: "-"))
    add(
        "prompt-stdin-not-utf8", "--prompt -: stdin is not UTF-8 text", stdin: Data([0x57, 0x68, 0xFF, 0xFE, 0x3F]),
        sweepGenerate(prompt: "-"))
    add(
        "prompt-stdin-over-a-mebibyte", "--prompt -: stdin holds more than 1024 KiB; a prompt must be shorter",
        stdin: Data(repeating: 0x61, count: (1 << 20) + 1), sweepGenerate(prompt: "-"))
    add(
        "prompt-empty", "--prompt is empty; give the question or instruction (or - to read it from stdin)",
        sweepGenerate(prompt: ""))
    add(
        "prompt-blank", "--prompt is empty; give the question or instruction (or - to read it from stdin)",
        sweepGenerate(prompt: " \n "))
    add(
        "compare-prompt-stdin-empty", "--prompt -: stdin is empty", stdin: Data(),
        ["compare", "--model", hf, "--image", image, "--prompt", "-", "--budget", "25%"])
    return cases
}()
