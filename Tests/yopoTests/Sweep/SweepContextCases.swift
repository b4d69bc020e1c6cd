import Foundation

/// Bad-input sweep: prompts that overflow the context (text alone, image tokens, a context the
/// checkpoint's config makes small, the tokenizer's `model_max_length`, stdin prompts).
let sweepContextCases: [SweepCase] = {
    let hf = Paths.model("llava-hf-tiny"), original = Paths.model("llava-v1.5-tiny")
    let clip = Paths.model("clip-vit-tiny")
    var cases: [SweepCase] = []
    for (words, name) in [(5000, "5000-words"), (20000, "20000-words")] {
        cases.append(
            SweepCase(
                .context, "hf-\(name)", message: "but the context holds 4096",
                sweepGenerate(prompt: String(repeating: "word ", count: words))))
    }
    cases.append(
        SweepCase(
            .context, "original-5000-words", message: "but the context holds",
            sweepGenerate(
                model: original, prompt: String(repeating: "word ", count: 5000),
                ["--vision-tower", clip])))
    // 3600 text tokens fit 4096 alone, not with the image's 576.
    cases.append(
        SweepCase(
            .context, "text-fits-image-does-not", message: "but the context holds 4096",
            sweepGenerate(prompt: String(repeating: "a ", count: 3600))))
    cases.append(
        SweepCase(
            .context, "100-kilobyte-prompt", message: "but the context holds 4096",
            sweepGenerate(prompt: String(repeating: "x", count: 100_000))))
    // max_position_embeddings below the image's 576 tokens.
    for positions in [1, 64, 576] {
        cases.append(
            SweepCase(
                .context, "max-position-embeddings-\(positions)",
                message: "but the context holds \(positions)"
            ) { s in
                sweepGenerate(
                    model: try s.editedConfig(of: "llava-hf-tiny") { json in
                        var text = json["text_config"] as! [String: Any]
                        text["max_position_embeddings"] = positions
                        json["text_config"] = text
                    })
            })
    }
    // The original layout takes the context from tokenizer_config.json's model_max_length.
    cases.append(
        SweepCase(.context, "original-model-max-length-100", message: "but the context holds 100") { s in
            let dir = try s.editedConfig(of: "llava-v1.5-tiny") { $0["tokenizer_model_max_length"] = 100 }
            return sweepGenerate(model: dir, ["--vision-tower", clip])
        })
    cases.append(
        SweepCase(
            .context, "explicit-placeholder-overflow", message: "but the context holds 4096",
            sweepGenerate(prompt: "<image>\n" + String(repeating: "word ", count: 5000))))
    cases.append(
        SweepCase(
            .context, "pruned-prompt-overflow", message: "but the context holds 4096",
            sweepGenerate(prompt: String(repeating: "word ", count: 5000), ["--prune", "fastv:k=2,r=0.5"])))
    cases.append(
        SweepCase(
            .context, "compare-overflow", message: "but the context holds 4096",
            [
                "compare", "--model", hf, "--image", Paths.image("chelsea.png"),
                "--prompt", String(repeating: "word ", count: 5000), "--budget", "50%"
            ]))
    return cases
}()
