import Foundation

/// Bad-input sweep: checkpoints. Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
///
/// Classes: safetensors headers (lengths, offsets, shapes, counts), shard indexes and files that are
/// not regular files, `.npy` head masks, tokenizer files, config.json sizes and values, and model
/// directories that are not directories.
let sweepCheckpointCases: [SweepCase] = {
    let clip = Paths.model("clip-vit-tiny"), hf = Paths.model("llava-hf-tiny")
    var cases: [SweepCase] = []
    func add(_ name: String, _ message: String, _ arguments: @escaping @Sendable (SweepScratch) throws -> [String]) {
        cases.append(SweepCase(.checkpoints, name, message: message, arguments: arguments))
    }

    // MARK: safetensors headers (model.safetensors of llava-hf, a shard of the original layout, the CLIP tower)

    let headers: [(String, String, Data)] = [
        ("header-length-2-63", "header length 9223372036854775808 exceeds the file size 26", sweepSafetensors("{}", length: 1 << 63)),
        ("header-length-u64-max", "header length 18446744073709551615 exceeds the file size 26", sweepSafetensors("{}", length: .max)),
        (
            "header-length-int-max", "header length 9223372036854775807 exceeds the file size 26",
            sweepSafetensors("{}", length: UInt64(Int.max))
        ),
        ("header-length-zero", "header length is 0", sweepSafetensors("{}", length: 0)),
        ("shorter-than-length-field", "shorter than the 8-byte header length (3 bytes)", Data([1, 2, 3])),
        ("header-not-json", "header is not valid JSON", sweepSafetensors("{\"a\": [")),
        ("header-is-array", "header is not a JSON object", sweepSafetensors("[1, 2, 3]")),
        (
            "offsets-near-int-max",
            "tensor a lies outside the file (truncated?): data_offsets [9223372036854775804, 9223372036854775807], data section of 16 bytes",
            sweepTensorFile(#"{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775804,9223372036854775807]}"#)
        ),
        (
            "offsets-beyond-int", "tensor a: data_offsets must be two integers 0 ≤ begin ≤ end, found [0, 18446744073709551615]",
            sweepTensorFile(#"{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}"#)
        ),
        (
            "offsets-negative", "tensor a: data_offsets must be two integers 0 ≤ begin ≤ end, found [-4, 0]",
            sweepTensorFile(#"{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}"#)
        ),
        (
            "offsets-reversed", "tensor a: data_offsets must be two integers 0 ≤ begin ≤ end, found [8, 4]",
            sweepTensorFile(#"{"dtype":"F32","shape":[1],"data_offsets":[8,4]}"#)
        ),
        (
            "dimension-negative", "tensor a: shape [-1, 4] must list non-negative integers",
            sweepTensorFile(#"{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}"#)
        ),
        (
            "dimension-fraction", "tensor a: shape [2.5] must list non-negative integers",
            sweepTensorFile(#"{"dtype":"F32","shape":[2.5],"data_offsets":[0,16]}"#)
        ),
        (
            "element-count-overflow", "tensor a: shape [4294967296, 4294967296, 4] has more elements than a 64-bit count holds",
            sweepTensorFile(#"{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}"#)
        ),
        (
            "byte-count-overflow", "tensor a: 16 bytes for shape [4611686018427387904] F32",
            sweepTensorFile(#"{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]}"#)
        ),
        (
            "byte-count-overflow-bf16", "tensor a: 16 bytes for shape [2305843009213693952, 2] BF16",
            sweepTensorFile(#"{"dtype":"BF16","shape":[2305843009213693952,2],"data_offsets":[0,16]}"#)
        )
    ]
    for (name, message, data) in headers {
        add("hf-\(name)", message) { s in
            sweepGenerate(model: try s.replaced("model.safetensors", in: "llava-hf-tiny", with: data))
        }
    }
    // The same classes through other readers of weights: the original layout's shards, the CLIP
    // tower of --vision-tower, `bench --model`.
    add("shard-header-length-2-63", "header length 9223372036854775808 exceeds the file size 26") { s in
        let dir = try s.replaced("model-00001-of-00002.safetensors", in: "llava-v1.5-tiny", with: sweepSafetensors("{}", length: 1 << 63))
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    add("shard-element-count-overflow", "tensor a: shape [4294967296, 4294967296, 4] has more elements than a 64-bit count holds") { s in
        let dir = try s.replaced(
            "model-00002-of-00002.safetensors", in: "llava-v1.5-tiny",
            with: sweepTensorFile(#"{"dtype":"F16","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}"#))
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    add("tower-offsets-near-int-max", "tensor a lies outside the file (truncated?)") { s in
        let tower = try s.replaced(
            "model.safetensors", in: "clip-vit-tiny",
            with: sweepTensorFile(
                #"{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775800,9223372036854775807]}"#), name: "clip")
        return sweepGenerate(model: Paths.model("llava-v1.5-tiny"), ["--vision-tower", tower])
    }
    add("bench-header-length-u64-max", "header length 18446744073709551615 exceeds the file size 26") { s in
        ["bench", "--model", try s.replaced("model.safetensors", in: "llava-hf-tiny", with: sweepSafetensors("{}", length: .max))]
    }

    // MARK: weights and shard indexes that are odd files

    add("weights-directory", "model.safetensors: it is a directory, not a file") { s in
        let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["model.safetensors"])
        try FileManager.default.createDirectory(atPath: dir + "/model.safetensors", withIntermediateDirectories: true)
        return sweepGenerate(model: dir)
    }
    add("weights-dev-zero", "model.safetensors: it is not a regular file (a device, pipe or socket)") { s in
        let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["model.safetensors"])
        try FileManager.default.createSymbolicLink(atPath: dir + "/model.safetensors", withDestinationPath: "/dev/zero")
        return sweepGenerate(model: dir)
    }
    add("weights-fifo", "model.safetensors: it is not a regular file (a device, pipe or socket)") { s in
        let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["model.safetensors"])
        guard mkfifo(dir + "/model.safetensors", 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
        return sweepGenerate(model: dir)
    }
    add("weights-empty", "model.safetensors: file is empty") { s in
        sweepGenerate(model: try s.replaced("model.safetensors", in: "llava-hf-tiny", with: Data()))
    }
    let indexes: [(String, String, String)] = [
        ("index-not-json", "model.safetensors.index.json: not valid JSON", "weight_map: everything"),
        ("index-array", "model.safetensors.index.json: must be a JSON object with a weight_map, found [1, 2]", "[1, 2]"),
        (
            "index-weight-map-list",
            "weight_map must be an object of tensor name → shard file, found [\"model-00001-of-00002.safetensors\"]",
            #"{"weight_map": ["model-00001-of-00002.safetensors"]}"#
        ),
        (
            "index-weight-map-number", "weight_map entry lm_head.weight must name a shard file (a string), found 5",
            #"{"weight_map": {"lm_head.weight": 5}}"#
        ),
        (
            "index-weight-map-null", "weight_map entry lm_head.weight must name a shard file (a string), found null",
            #"{"weight_map": {"lm_head.weight": null}}"#
        ),
        ("index-empty", "model.safetensors.index.json: file is empty", "")
    ]
    for (name, message, json) in indexes {
        add(name, message) { s in
            let dir = try s.replaced("model.safetensors.index.json", in: "llava-v1.5-tiny", with: Data(json.utf8))
            return sweepGenerate(model: dir, ["--vision-tower", clip])
        }
    }
    add("index-directory", "model.safetensors.index.json: it is a directory, not a file") { s in
        let dir = try s.linkedCopy(of: "llava-v1.5-tiny", skip: ["model.safetensors.index.json"])
        try FileManager.default.createDirectory(atPath: dir + "/model.safetensors.index.json", withIntermediateDirectories: true)
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    add("index-dev-zero", "model.safetensors.index.json: it is not a regular file (a device, pipe or socket)") { s in
        let dir = try s.linkedCopy(of: "llava-v1.5-tiny", skip: ["model.safetensors.index.json"])
        try FileManager.default.createSymbolicLink(atPath: dir + "/model.safetensors.index.json", withDestinationPath: "/dev/zero")
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    add("index-shard-directory", "model-00001-of-00002.safetensors: it is a directory, not a file") { s in
        let dir = try s.linkedCopy(of: "llava-v1.5-tiny", skip: ["model-00001-of-00002.safetensors"])
        try FileManager.default.createDirectory(atPath: dir + "/model-00001-of-00002.safetensors", withIntermediateDirectories: true)
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    add("index-shard-dev-zero", "model-00002-of-00002.safetensors: it is not a regular file (a device, pipe or socket)") { s in
        let dir = try s.linkedCopy(of: "llava-v1.5-tiny", skip: ["model-00002-of-00002.safetensors"])
        try FileManager.default.createSymbolicLink(atPath: dir + "/model-00002-of-00002.safetensors", withDestinationPath: "/dev/zero")
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }

    // MARK: .npy head masks (heads=FILE.npy)

    let masks: [(String, String, Data)] = [
        (
            "npy-negative-dimension", "shape (-3, 4) must be a tuple of non-negative integers",
            sweepNPY("{'descr': '|b1', 'fortran_order': False, 'shape': (-3, 4), }")
        ),
        (
            "npy-word-dimension", "shape (3, four) must be a tuple of non-negative integers",
            sweepNPY("{'descr': '|b1', 'fortran_order': False, 'shape': (3, four), }")
        ),
        (
            "npy-dimension-beyond-int", "shape (99999999999999999999, 4) must be a tuple of non-negative integers",
            sweepNPY("{'descr': '|b1', 'fortran_order': False, 'shape': (99999999999999999999, 4), }")
        ),
        (
            "npy-overflowing-shape", "shape (4294967296, 4294967296, 4) has a dimension over the 16777216-element limit",
            sweepNPY("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }")
        ),
        (
            "npy-huge-count", "shape (16777216, 16777216) holds more than 16777216 elements",
            sweepNPY("{'descr': '|b1', 'fortran_order': False, 'shape': (16777216, 16777216), }")
        ),
        (
            "npy-huge-dimension-times-zero", "shape (1000000000000, 0) has a dimension over the 16777216-element limit",
            sweepNPY("{'descr': '|b1', 'fortran_order': False, 'shape': (1000000000000, 0), }")
        ),
        (
            "npy-header-past-file", "header length 65535 runs past the end of the file (128 bytes)",
            sweepNPY("{'descr': '|b1', 'fortran_order': False, 'shape': (3, 4), }", headerLength: 65535)
        ),
        (
            "npy-v2-header-past-file", "header length 4294967295 runs past the end of the file (12 bytes)",
            Data([0x93] + Array("NUMPY".utf8) + [2, 0, 0xFF, 0xFF, 0xFF, 0xFF])
        ),
        (
            "npy-short-data", "data holds 2 bytes, shape [3, 4] needs 12",
            sweepNPY("{'descr': '|b1', 'fortran_order': False, 'shape': (3, 4), }", data: [1, 1])
        )
    ]
    for (index, (name, message, data)) in masks.enumerated() {
        add(name, message) { s in
            let mask = try s.write("mask.npy", data)
            // Alternate generate and flops: both resolve the spec, loading the mask.
            return index % 2 == 0
                ? sweepGenerate(["--prune", "yopo:window=5,layers=2,heads=\(mask),ffn=2"])
                : ["flops", "--model", hf, "--prune", "yopo:window=5,layers=2,heads=\(mask),ffn=2"]
        }
    }
    add("npy-directory", "masks.npy' is a directory, not a file; expected a .npy mask") { s in
        let dir = s.path("masks.npy")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return ["flops", "--model", hf, "--prune", "yopo:layers=2,heads=\(dir)"]
    }

    // MARK: tokenizer files

    let tokenizers: [(String, String, String)] = [
        (
            "tokenizer-id-1e9", "token b in model.vocab has id 1000000000; ids must be from 0 to 4194303",
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1000000000}, "merges": []}}"#
        ),
        (
            "tokenizer-id-beyond-int32", "token a in model.vocab has id 4294967296; ids must be from 0 to 4194303",
            #"{"model": {"type": "BPE", "vocab": {"a": 4294967296}, "merges": []}}"#
        ),
        (
            "tokenizer-negative-id", "token a in model.vocab has id -7; ids must be from 0 to 4194303",
            #"{"model": {"type": "BPE", "vocab": {"a": -7, "b": 0}, "merges": []}}"#
        ),
        (
            "tokenizer-fractional-id", "id of token a in model.vocab must be an integer, found 0.5",
            #"{"model": {"type": "BPE", "vocab": {"a": 0.5}, "merges": []}}"#
        ),
        (
            "tokenizer-duplicate-ids", "tokens a and b share id 0 in model.vocab",
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}"#
        ),
        (
            "tokenizer-merge-unknown-token", "merge 2 (a z) uses a token missing from the vocabulary",
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a z"]}}"#
        ),
        (
            "tokenizer-merges-not-list", "model.merges is not a list",
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": {"a": "b"}}}"#
        ),
        (
            "tokenizer-added-id-1e9", "added token <image> has id 1000000000; ids must be from 0 to 4194303",
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1000000000, "content": "<image>"}]}"#
        ),
        (
            "tokenizer-added-negative-id", "added token <image> has id -1; ids must be from 0 to 4194303",
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": -1, "content": "<image>"}]}"#
        ),
        (
            "tokenizer-added-duplicate-ids", "added tokens <image> and <pad> share id 1",
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1, "content": "<image>"}, {"id": 1, "content": "<pad>"}]}"#
        ),
        (
            "tokenizer-post-processor-id", "post_processor special token id 1000000000 is outside the vocabulary (0 to 0)",
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {"<s>": {"ids": [1000000000]}}}}"#
        ),
        (
            "tokenizer-newline-in-token", #"tokens a\nb and c share id 0 in model.vocab"#,
            #"{"model": {"type": "BPE", "vocab": {"a\nb": 0, "c": 0}, "merges": []}}"#
        ),
        ("tokenizer-top-level-array", "tokenizer.json: top level is not a JSON object", "[1, 2]"),
        ("tokenizer-empty", "tokenizer.json: file is empty", "")
    ]
    for (name, message, json) in tokenizers {
        add(name, message) { s in
            sweepGenerate(model: try s.replaced("tokenizer.json", in: "llava-hf-tiny", with: Data(json.utf8)))
        }
    }
    add("tokenizer-model-directory", "/model/tokenizer.model: it is a directory, not a file") { s in
        let dir = try s.linkedCopy(of: "llava-v1.5-tiny", skip: ["tokenizer.model"])
        try FileManager.default.createDirectory(atPath: dir + "/tokenizer.model", withIntermediateDirectories: true)
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    add("tokenizer-json-directory", "/model/tokenizer.json: it is a directory, not a file") { s in
        let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["tokenizer.json"])
        try FileManager.default.createDirectory(atPath: dir + "/tokenizer.json", withIntermediateDirectories: true)
        return sweepGenerate(model: dir)
    }
    add("tokenizer-json-dev-zero", "tokenizer.json: it is not a regular file (a device, pipe or socket)") { s in
        let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["tokenizer.json"])
        try FileManager.default.createSymbolicLink(atPath: dir + "/tokenizer.json", withDestinationPath: "/dev/zero")
        return sweepGenerate(model: dir)
    }
    add("tokenizer-model-dev-zero", "tokenizer.model: it is not a regular file (a device, pipe or socket)") { s in
        let dir = try s.linkedCopy(of: "llava-v1.5-tiny", skip: ["tokenizer.model"])
        try FileManager.default.createSymbolicLink(atPath: dir + "/tokenizer.model", withDestinationPath: "/dev/zero")
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    let tokenizerConfigs: [(String, String, String)] = [
        (
            "tokenizer-config-max-length-negative", "model_max_length must be a positive integer, found -1e+300",
            #"{"model_max_length": -1e300}"#
        ),
        (
            "tokenizer-config-decoder-negative-key", "added_tokens_decoder key -5 is not a token id (a non-negative integer)",
            #"{"added_tokens_decoder": {"-5": {"content": "<x>"}}}"#
        ),
        (
            "tokenizer-config-decoder-no-content", "added_tokens_decoder entry 32005 has no content string",
            #"{"added_tokens_decoder": {"32005": {"special": true}}}"#
        ),
        (
            "tokenizer-config-added-id-1e9", "added token <big> of tokenizer_config.json has id 1000000000; ids must be from 0 to 4194303",
            #"{"added_tokens_decoder": {"1000000000": {"content": "<big>", "special": true}}}"#
        ),
        ("tokenizer-config-array", "tokenizer_config.json: top level is not a JSON object", "[]")
    ]
    for (name, message, json) in tokenizerConfigs {
        add(name, message) { s in
            sweepGenerate(model: try s.replaced("tokenizer_config.json", in: "llava-hf-tiny", with: Data(json.utf8)))
        }
    }
    add(
        "original-tokenizer-config-added-id-1e9",
        "added token <big> of tokenizer_config.json has id 1000000000; ids must be from 0 to 32000"
    ) { s in
        let dir = try s.replaced(
            "tokenizer_config.json", in: "llava-v1.5-tiny",
            with: Data(
                #"{"added_tokens_decoder": {"1000000000": {"content": "<big>", "special": true}}}"#.utf8))
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }

    // MARK: config.json sizes and values

    let textValues: [(String, String, String, Any, String)] = [
        // name, key, message, value, subcommand
        (
            "vocab-size-2-62", "vocab_size", "text_config.vocab_size must be an integer from 1 to 4194304, found 4611686018427387904",
            1 << 62, "flops"
        ),
        (
            "vocab-size-2-62-generate", "vocab_size",
            "text_config.vocab_size must be an integer from 1 to 4194304, found 4611686018427387904", 1 << 62, "generate"
        ),
        ("vocab-size-zero", "vocab_size", "text_config.vocab_size must be an integer from 1 to 4194304, found 0", 0, "bench"),
        ("hidden-size-zero", "hidden_size", "text_config.hidden_size must be an integer from 1 to 65536, found 0", 0, "flops"),
        ("hidden-size-negative", "hidden_size", "text_config.hidden_size must be an integer from 1 to 65536, found -4096", -4096, "bench"),
        ("hidden-size-fraction", "hidden_size", "text_config.hidden_size must be an integer, found 24.5", 24.5, "generate"),
        ("hidden-size-string", "hidden_size", "text_config.hidden_size must be an integer, found \"24\"", "24", "flops"),
        (
            "intermediate-size-absurd", "intermediate_size",
            "text_config.intermediate_size must be an integer from 1 to 262144, found 1000000000000", 1_000_000_000_000, "flops"
        ),
        (
            "intermediate-size-zero", "intermediate_size", "text_config.intermediate_size must be an integer from 1 to 262144, found 0", 0,
            "generate"
        ),
        ("layers-zero", "num_hidden_layers", "text_config.num_hidden_layers must be an integer from 1 to 512, found 0", 0, "flops"),
        ("layers-negative", "num_hidden_layers", "text_config.num_hidden_layers must be an integer from 1 to 512, found -3", -3, "bench"),
        (
            "layers-fewer-than-stored", "num_hidden_layers",
            "text_config.num_hidden_layers is 2 but the checkpoint stores 3 decoder layers", 2, "generate"
        ),
        (
            "layers-more-than-stored", "num_hidden_layers",
            "text_config.num_hidden_layers is 5 but the checkpoint stores 3 decoder layers", 5, "bench"
        ),
        ("heads-zero", "num_attention_heads", "text_config.num_attention_heads must be an integer from 1 to 1024, found 0", 0, "flops"),
        (
            "heads-not-multiple-of-kv", "num_attention_heads",
            "text_config.num_attention_heads 3 must be a multiple of num_key_value_heads 2", 3, "generate"
        ),
        ("kv-heads-zero", "num_key_value_heads", "text_config.num_key_value_heads must be an integer from 1 to 4, found 0", 0, "flops"),
        ("head-dim-zero", "head_dim", "text_config.head_dim must be an integer from 2 to 1024, found 0", 0, "flops"),
        ("head-dim-odd", "head_dim", "text_config.head_dim 7 must be even for RoPE", 7, "generate"),
        ("head-dim-absurd", "head_dim", "text_config.head_dim must be an integer from 2 to 1024, found 1099511627776", 1 << 40, "flops"),
        (
            "max-positions-negative", "max_position_embeddings",
            "text_config.max_position_embeddings must be an integer from 1 to 16777216, found -5", -5, "generate"
        ),
        (
            "max-positions-zero", "max_position_embeddings",
            "text_config.max_position_embeddings must be an integer from 1 to 16777216, found 0", 0, "flops"
        ),
        (
            "eos-token-string", "eos_token_id", "text_config.eos_token_id must be an integer or a list of integers, found \"two\"", "two",
            "generate"
        ),
        (
            "eos-token-mixed-list", "eos_token_id",
            "text_config.eos_token_id must be an integer or a list of integers, found [2, \"x\"]", [2, "x"] as [Any], "flops"
        ),
        (
            "eos-token-outside-vocab", "eos_token_id", "text_config.eos_token_id 99999 is outside the vocabulary (0 to 32063)", 99999,
            "flops"
        ),
        (
            "rope-type-yarn", "rope_parameters", "text_config.rope_parameters.rope_type \"yarn\" is not supported (default, linear, mrope)",
            ["rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0] as [String: Any], "generate"
        ),
        (
            "rope-factor-zero", "rope_scaling", "text_config.rope_scaling.factor must be a positive number, found 0",
            ["type": "linear", "factor": 0] as [String: Any], "flops"
        ),
        (
            "rope-scaling-string", "rope_scaling",
            "text_config.rope_scaling must be an object such as {\"rope_type\": \"linear\", \"factor\": 2}, found \"linear\"", "linear",
            "flops"
        ),
        ("rms-norm-eps-negative", "rms_norm_eps", "text_config.rms_norm_eps must be a number ≥ 0, found -1.0", -1, "generate"),
        (
            "rms-norm-eps-beyond-fp32", "rms_norm_eps",
            "text_config.rms_norm_eps must be a number within fp32's range (±3.4e38), found 1e+300", 1e300, "flops"
        ),
        (
            "rope-theta-beyond-fp32", "rope_theta",
            "text_config.rope_theta must be a number within fp32's range (±3.4e38), found 1e+300", 1e300, "generate"
        ),
        (
            "tie-embeddings-string", "tie_word_embeddings", "text_config.tie_word_embeddings must be true or false, found \"yes\"", "yes",
            "flops"
        ),
        ("hidden-act-gelu", "hidden_act", "text_config.hidden_act gelu is not supported (silu)", "gelu", "flops")
    ]
    for (name, key, message, value, command) in textValues {
        nonisolated(unsafe) let value = value
        add(name, message) { s in
            let dir = try sweepText(s) { $0[key] = value }
            switch command {
            case "flops": return ["flops", "--model", dir]
            case "bench": return ["bench", "--model", dir]
            default: return sweepGenerate(model: dir)
            }
        }
    }
    add(
        "weights-too-many",
        "text_config.hidden_size 65536, intermediate_size 262144, num_hidden_layers 512 and vocab_size 32064 give more than 4398046511104 weights"
    ) { s in
        [
            "flops", "--model",
            try sweepText(s) {
                $0["hidden_size"] = 65536; $0["intermediate_size"] = 262_144; $0["num_hidden_layers"] = 512
                $0["num_attention_heads"] = 64; $0["num_key_value_heads"] = 64; $0["head_dim"] = 1024
            }
        ]
    }
    let visionValues: [(String, String, String, Any)] = [
        ("vision-image-size-absurd", "image_size", "vision_config.image_size must be an integer from 1 to 16384, found 1000000", 1_000_000),
        ("vision-patch-size-zero", "patch_size", "vision_config.patch_size must be an integer from 1 to 336, found 0", 0),
        ("vision-hidden-size-negative", "hidden_size", "vision_config.hidden_size must be an integer from 1 to 65536, found -32", -32),
        (
            "vision-layers-fewer-than-stored", "num_hidden_layers",
            "vision_config.num_hidden_layers is 2 but the checkpoint stores 3 vision layers", 2
        ),
        ("vision-hidden-act", "hidden_act", "vision_config.hidden_act relu is not supported (quick_gelu, gelu)", "relu")
    ]
    for (index, (name, key, message, value)) in visionValues.enumerated() {
        nonisolated(unsafe) let value = value
        add(name, message) { s in
            let dir = try sweepVision(s) { $0[key] = value }
            return index == 3 ? sweepGenerate(model: dir) : ["flops", "--model", dir]
        }
    }
    add(
        "vision-grid-too-large",
        "vision_config.image_size 16384 / patch_size 1 gives a 16384×16384 patch grid; at most 256×256 is supported"
    ) { s in
        [
            "flops", "--model",
            try sweepVision(s) {
                $0["image_size"] = 16384; $0["patch_size"] = 1
            }
        ]
    }
    add("vision-feature-layer-outside", "vision_feature_layer 99 is outside the 3-layer vision tower (allowed: -4 to 3)") { s in
        ["flops", "--model", try s.editedConfig(of: "llava-hf-tiny") { $0["vision_feature_layer"] = 99 }]
    }
    add("text-config-missing-flops", "config.json has no text_config, so transformers would assume LLaMA-7B sizes") { s in
        ["flops", "--model", try s.editedConfig(of: "llava-hf-tiny") { $0["text_config"] = nil }]
    }
    add(
        "text-config-missing-generate",
        "but the weights do not match (language_model.model.embed_tokens.weight has shape [32064, 24], expected [32000, 4096]); add the checkpoint's text_config"
    ) { s in
        sweepGenerate(model: try s.editedConfig(of: "llava-hf-tiny") { $0["text_config"] = nil })
    }
    add("vision-config-missing", "config.json has no vision_config, so transformers would assume CLIP ViT-L/14-336 sizes") { s in
        ["flops", "--model", try s.editedConfig(of: "llava-hf-tiny") { $0["vision_config"] = nil }]
    }
    add("text-config-list", "config.json: text_config must be an object, found [1, 2]") { s in
        ["flops", "--model", try s.editedConfig(of: "llava-hf-tiny") { $0["text_config"] = [1, 2] }]
    }
    add("architectures-string", "config.json: architectures must be a list, found \"LlavaForConditionalGeneration\"") { s in
        ["flops", "--model", try s.editedConfig(of: "llava-hf-tiny") { $0["architectures"] = "LlavaForConditionalGeneration" }]
    }
    add("image-token-index-negative", "config.json: image_token_index -1 is outside the vocabulary of 32064") { s in
        sweepGenerate(model: try s.editedConfig(of: "llava-hf-tiny") { $0["image_token_index"] = -1 })
    }
    // Original layout: LLaMA keys at the top level, the tower's own config.json.
    add("original-hidden-size-string", "config.json: hidden_size must be an integer, found \"x\"") { s in
        sweepGenerate(model: try s.editedConfig(of: "llava-v1.5-tiny") { $0["hidden_size"] = "x" }, ["--vision-tower", clip])
    }
    add("original-rope-dynamic", "config.json: rope_scaling.type \"dynamic\" is not supported (default, linear, mrope)") { s in
        let dir = try s.editedConfig(of: "llava-v1.5-tiny") { $0["rope_scaling"] = ["type": "dynamic", "factor": 2.0] }
        return ["flops", "--model", dir, "--vision-tower", clip]
    }
    add("original-model-max-length-negative", "config.json: tokenizer_model_max_length must be an integer from 1 to 16777216, found -1") {
        s in
        let dir = try s.editedConfig(of: "llava-v1.5-tiny") { $0["tokenizer_model_max_length"] = -1 }
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    add("original-layers-fewer-than-stored", "config.json: num_hidden_layers is 1 but the checkpoint stores 3 decoder layers") { s in
        let dir = try s.editedConfig(of: "llava-v1.5-tiny") { $0["num_hidden_layers"] = 1 }
        return sweepGenerate(model: dir, ["--vision-tower", clip])
    }
    add("tower-hidden-size-zero", "config.json: vision_config.hidden_size must be an integer from 1 to 65536, found 0") { s in
        let tower = try s.editedConfig(of: "clip-vit-tiny", name: "clip") { json in
            var v = json["vision_config"] as! [String: Any]
            v["hidden_size"] = 0
            json["vision_config"] = v
        }
        return ["flops", "--model", Paths.model("llava-v1.5-tiny"), "--vision-tower", tower]
    }

    // MARK: config.json that is not a JSON object file

    add("config-top-level-array", "config.json must be a JSON object, found a list") { s in
        sweepGenerate(model: try s.replaced("config.json", in: "llava-hf-tiny", with: Data("[1, 2, 3]".utf8)))
    }
    add("config-top-level-string", "config.json must be a JSON object, found a string") { s in
        ["flops", "--model", try s.replaced("config.json", in: "llava-hf-tiny", with: Data("\"llava\"".utf8))]
    }
    add("config-empty", "config.json is empty") { s in
        ["flops", "--model", try s.replaced("config.json", in: "llava-hf-tiny", with: Data())]
    }
    add("config-binary-garbage", "config.json is not valid JSON") { s in
        sweepGenerate(model: try s.replaced("config.json", in: "llava-hf-tiny", with: Data((0..<4096).map { UInt8(($0 * 131 + 7) % 256) })))
    }
    add("config-directory", "config.json: it is a directory, not a file") { s in
        let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["config.json"])
        try FileManager.default.createDirectory(atPath: dir + "/config.json", withIntermediateDirectories: true)
        return ["bench", "--model", dir]
    }
    add("config-dev-zero", "config.json: it is not a regular file (a device, pipe or socket)") { s in
        let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["config.json"])
        try FileManager.default.createSymbolicLink(atPath: dir + "/config.json", withDestinationPath: "/dev/zero")
        return sweepGenerate(model: dir)
    }

    // MARK: --model / --vision-tower that are not checkpoint directories

    let file = hf + "/config.json"
    let notADirectory = "is a file, not a checkpoint directory (a directory with config.json and *.safetensors)"
    cases.append(
        SweepCase(
            .checkpoints, "model-is-file-generate", message: "model directory \(file) \(notADirectory)",
            sweepGenerate(model: file)))
    cases.append(
        SweepCase(
            .checkpoints, "model-is-file-flops", message: "model directory \(file) \(notADirectory)",
            ["flops", "--model", file]))
    cases.append(
        SweepCase(
            .checkpoints, "model-is-file-bench", message: "model directory \(file) \(notADirectory)",
            ["bench", "--model", file]))
    cases.append(
        SweepCase(
            .checkpoints, "model-is-device", message: "model directory /dev/null is not a directory",
            sweepGenerate(model: "/dev/null")))
    cases.append(
        SweepCase(
            .checkpoints, "model-empty-path", message: "--model is empty; expected checkpoint directory",
            ["flops", "--model", ""]))
    cases.append(
        SweepCase(
            .checkpoints, "vision-tower-is-file",
            message: "vision tower directory \(clip)/config.json is a file, not a checkpoint directory",
            sweepGenerate(model: Paths.model("llava-v1.5-tiny"), ["--vision-tower", clip + "/config.json"])))
    return cases
}()

/// A safetensors file: `length` (default: the header's) as little-endian u64, `header`, 16 data bytes.
func sweepSafetensors(_ header: String, length: UInt64? = nil) -> Data {
    var bytes = Data()
    var n = (length ?? UInt64(header.utf8.count)).littleEndian
    bytes.append(Data(bytes: &n, count: 8))
    bytes.append(Data(header.utf8))
    bytes.append(Data(count: 16))
    return bytes
}

/// A version-1 `.npy` whose header is `header` (padded to 64 bytes as NumPy does), then `data`.
func sweepNPY(_ header: String, data: [UInt8] = [], headerLength: Int? = nil) -> Data {
    var h = Array(header.utf8)
    while (10 + h.count + 1) % 64 != 0 { h.append(0x20) }
    h.append(0x0A)
    let n = headerLength ?? h.count
    return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)] + h + data)
}

/// A one-tensor safetensors file, tensor `a` with header entry `entry`, 16 data bytes.
func sweepTensorFile(_ entry: String) -> Data { sweepSafetensors(#"{"a":\#(entry)}"#) }

/// A linked llava-hf-tiny whose `text_config` is `edit` applied to the fixture's.
func sweepText(_ s: SweepScratch, _ edit: (inout [String: Any]) -> Void) throws -> String {
    try s.editedConfig(of: "llava-hf-tiny") { json in
        var t = json["text_config"] as! [String: Any]
        edit(&t)
        json["text_config"] = t
    }
}

/// A linked llava-hf-tiny whose `vision_config` is `edit` applied to the fixture's.
func sweepVision(_ s: SweepScratch, _ edit: (inout [String: Any]) -> Void) throws -> String {
    try s.editedConfig(of: "llava-hf-tiny") { json in
        var v = json["vision_config"] as! [String: Any]
        edit(&v)
        json["vision_config"] = v
    }
}
