import Foundation

/// Bad-input sweep: prune specs (--prune). Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
///
/// Classes (issue 11): what `heads=` points to; what a valid .npy mask holds; the field each spec error
/// blames and the range it names; repeated fields; the empty spec; presets and baseline defaults on a
/// model they do not fit; numbers (huge, negative, non-numeric, NaN/inf) and syntax (commas, spaces,
/// `=`, unknown methods and fields). Mostly `generate` on the bundled 3-layer × 4-head model, some
/// `flops --arch llava-1.5-7b` and `compare`.
let sweepPruneSpecCases: [SweepCase] = {
    var cases: [SweepCase] = []
    func generate(_ name: String, _ spec: String, _ message: String) {
        cases.append(SweepCase(.pruneSpecs, name, message: message, sweepGenerate(["--prune", spec])))
    }
    /// `generate --prune yopo:heads=PATH` with the file `make` writes in the case's scratch directory.
    /// The scratch path is not known when the table is built, so `message` is the error's text from the
    /// file's name on.
    func mask(_ name: String, _ message: String, _ make: @escaping @Sendable (SweepScratch) throws -> String) {
        cases.append(SweepCase(.pruneSpecs, name, message: message) { s in sweepGenerate(["--prune", "yopo:heads=\(try make(s))"]) })
    }
    let tinyMask = "expected a .npy mask of 0/1 or bool entries with shape [layers, heads] = [3, 4]"

    // 1. The empty spec is an error, not `none` (the command line refuses an empty value first; the
    // library's own message for an empty spec is in PruningSpecTests).
    let empty =
        "--prune is empty; expected visual-computation pruning, one spec: none | yopo:window=5,layers=16,heads-keep=16,ffn=2 | yopo-25"
    generate("empty-spec", "", empty)
    generate("blank-spec", "   ", empty)
    cases.append(
        SweepCase(
            .pruneSpecs, "compare-empty-yopo-spec", message: "--yopo is empty; expected YOPO spec or preset",
            sweepCompare(["--yopo", ""])))

    // 2. Presets and baseline defaults on a model they do not fit say what fits and which fields to pass.
    let presetFits =
        "the preset is defined for LLaVA-1.5-7B (32 layers × 32 heads) and LLaVA-1.5-13B (40 layers × 40 heads), "
        + "and this model has 3 layers × 4 heads; the fields window, layers and ffn work on any model"
    generate(
        "preset-yopo-25-tiny", "yopo-25", "prune spec yopo-25 does not fit this model: \(presetFits), e.g. yopo:window=5,layers=2,ffn=2")
    generate(
        "preset-yopo-12-tiny", "yopo-12", "prune spec yopo-12 does not fit this model: \(presetFits), e.g. yopo:window=5,layers=1,ffn=2")
    cases.append(
        SweepCase(
            .pruneSpecs, "compare-yopo-preset-tiny", message: "prune spec yopo-25 does not fit this model: \(presetFits)",
            sweepCompare(["--yopo", "yopo-25"])))
    generate(
        "sparsevlm-default-layers", "sparsevlm",
        "prune spec sparsevlm:tokens=192 does not fit this model: it prunes after layers 2/6/15 (the v1.5 schedule), which needs at least 17 layers, and this model has 3; pass layers= (increasing, within [0, 1]) and keep= (one count per layer) instead, e.g. sparsevlm:layers=0/1,keep=300/110"
    )
    generate(
        "sparsevlm-tokens-128-layers", "sparsevlm:tokens=128",
        "prune spec sparsevlm:tokens=128 does not fit this model: it prunes after layers 2/6/15 (the v1.5 schedule), which needs at least 17 layers, and this model has 3; pass layers= (increasing, within [0, 1]) and keep= (one count per layer) instead, e.g. sparsevlm:layers=0/1,keep=303/36"
    )
    generate(
        "pdrop-default-boundaries", "pdrop",
        "prune spec pdrop:layers=8/16/24,ratio=0.5 does not fit this model: its boundaries 8/16/24 (the default) need at least 25 layers, and this model has 3; pass layers= (increasing, within [1, 2]), e.g. pdrop:layers=1/2,ratio=0.5"
    )
    generate(
        "heads-keep-no-official-mask", "yopo:heads-keep=16",
        "invalid prune spec field heads-keep: official masks exist for LLaVA-1.5-7B (32 layers × 32 heads: heads-keep 8, 16 or 24) and LLaVA-1.5-13B (40 layers × 40 heads: 5, 10, 20 or 30), and this model has 3 layers × 4 heads; give heads=PATH.npy, a [3, 4] mask, instead"
    )

    // 3. Each error blames the field the user gave and names the range for this model.
    generate(
        "sparsevlm-layers-beyond-model", "sparsevlm:layers=0/5,keep=10/5",
        "invalid prune spec field layers: 0/5 must increase within [0, 1] for a 3-layer model (a pruning layer needs a later layer)")
    generate(
        "pdrop-boundary-beyond-model", "pdrop:layers=1/5",
        "invalid prune spec field layers: 1/5 must increase within [1, 2] for a 3-layer model (a boundary needs a later layer to rank with)"
    )
    generate("fastv-k-beyond-model", "fastv:k=3", "invalid prune spec field k: 3 is outside [1, 2] for a 3-layer model")
    generate(
        "fastv-k-zero", "fastv:k=0",
        "invalid prune spec field k: 0 is outside [1, 2] for a 3-layer model (k=0, dropping before the first layer, is not implemented)")
    generate("yopo-layers-beyond-model", "yopo:layers=4", "invalid prune spec field layers: 4 is outside [0, 3] (this model has 3 layers)")
    generate("yopo-layers-negative", "yopo:layers=-1", "invalid prune spec field layers: -1 is outside [0, 3] (this model has 3 layers)")
    generate(
        "yopo-ffn-no-channel", "yopo:ffn=100",
        "invalid prune spec field ffn: 100 leaves no FFN channel of 64; allowed: a number in [1, 64]")
    generate(
        "sparsevlm-layers-without-keep", "sparsevlm:layers=0/1",
        "invalid prune spec field keep: missing: layers= needs keep= with one count per pruning layer")
    generate(
        "sparsevlm-keep-without-layers", "sparsevlm:keep=100/50",
        "invalid prune spec field layers: missing: keep= needs layers= with one pruning layer per count")
    generate(
        "pdrop-keep-wrong-count", "pdrop:layers=1/2,keep=10",
        "invalid prune spec field keep: 1 count (10) for 2 boundaries (1/2); give one count ≥ 0 per boundary")
    generate(
        "sparsevlm-keep-wrong-count", "sparsevlm:layers=0/1,keep=10/5/2",
        "invalid prune spec field keep: 3 counts (10/5/2) for 2 pruning layers (0/1); give one count ≥ 0 per layer")

    // 4. Repeated fields, for yopo as for the baselines.
    generate(
        "yopo-window-twice", "yopo:window=3,window=5",
        "invalid prune spec field window: given twice (window=3 and window=5); give each field once")
    generate(
        "yopo-ffn-twice", "yopo:ffn=2,layers=1,ffn=4",
        "invalid prune spec field ffn: given twice (ffn=2 and ffn=4); give each field once")
    generate("fastv-k-twice", "fastv:k=1,k=2", "invalid prune spec field k: given twice (k=1 and k=2); give each field once")

    // 5. Numbers: huge, negative, not numbers, not finite, out of range.
    generate(
        "yopo-window-int-max", "yopo:window=9223372036854775807",
        "invalid prune spec field window: 9223372036854775807 is above 999; allowed: an odd integer in [1, 999]")
    generate("yopo-window-even", "yopo:window=4", "invalid prune spec field window: 4 is even; allowed: an odd integer in [1, 999]")
    generate(
        "yopo-window-negative", "yopo:window=-5", "invalid prune spec field window: -5 is below 1; allowed: an odd integer in [1, 999]")
    generate(
        "fastv-k-20-digits", "fastv:k=99999999999999999999",
        "invalid prune spec field k: 99999999999999999999 is too large; allowed: an integer ≥ 1 below the model's layer count")
    generate(
        "yopo-layers-20-digits-negative", "yopo:layers=-99999999999999999999",
        "invalid prune spec field layers: -99999999999999999999 is too small; allowed: an integer from 0 to the model's layer count")
    generate(
        "fastv-k-not-integer", "fastv:k=two",
        "invalid prune spec field k: 'two' is not an integer; allowed: an integer ≥ 1 below the model's layer count")
    generate(
        "fastv-keep-negative", "fastv:k=1,keep=-3",
        "invalid prune spec field keep: -3 is below 0; allowed: an integer ≥ 0, the image tokens kept")
    generate("yopo-ffn-nan", "yopo:ffn=nan", "invalid prune spec field ffn: 'nan' is not a finite number; allowed: a number ≥ 1")
    generate("yopo-ffn-below-one", "yopo:ffn=0.5", "invalid prune spec field ffn: 0.5 is below 1; allowed: a number ≥ 1")
    generate("fastv-r-inf", "fastv:k=1,r=inf", "invalid prune spec field r: 'inf' is not a finite number; allowed: a number in [0, 1]")
    generate("fastv-r-above-one", "fastv:k=1,r=1.5", "invalid prune spec field r: 1.5 is outside [0, 1]; allowed: a number in [0, 1]")
    generate(
        "pdrop-ratio-zero", "pdrop:layers=1/2,ratio=0",
        "invalid prune spec field ratio: 0 is outside (0, 1]; allowed: a number in (0, 1]")
    generate(
        "pdrop-ratio-percent", "pdrop:layers=1/2,ratio=50%",
        "invalid prune spec field ratio: '50%' is not a number; allowed: a number in (0, 1]")
    generate(
        "pdrop-layers-decreasing", "pdrop:layers=2/1",
        "invalid prune spec field layers: 2/1 does not increase; allowed: increasing integers ≥ 1")
    generate(
        "pdrop-layers-empty-entry", "pdrop:layers=1//2",
        "invalid prune spec field layers: '1//2' has an empty entry; allowed: increasing integers ≥ 1")
    generate(
        "sparsevlm-tokens-unknown", "sparsevlm:tokens=100",
        "invalid prune spec field tokens: 100 has no v1.5 schedule; allowed: 192, 128 or 64")

    // 6. Syntax: commas, spaces, `=`, unknown methods and fields, control characters.
    generate(
        "fastv-trailing-comma", "fastv:k=1,", "invalid prune spec: 'fastv:k=1,' has an empty field (a leading, trailing or doubled comma)")
    generate(
        "yopo-doubled-comma", "yopo:window=3,,ffn=2",
        "invalid prune spec: 'yopo:window=3,,ffn=2' has an empty field (a leading, trailing or doubled comma)")
    generate(
        "pdrop-colon-no-fields", "pdrop:",
        "invalid prune spec: 'pdrop:' has no fields; write pdrop for its defaults or give fields (layers, ratio, keep)")
    generate(
        "fastv-space-in-value", "fastv:k= 1",
        "invalid prune spec field k: 'k= 1' contains whitespace; write k=1 (a prune spec has no spaces)")
    generate(
        "yopo-space-before-key", "yopo: window=3",
        "invalid prune spec field window: ' window=3' contains whitespace; write window=3 (a prune spec has no spaces)")
    generate(
        "line-break-in-spec", "fastv:k=1\nr=0.5",
        "invalid prune spec field k: 'k=1\\nr=0.5' contains whitespace; write k=1r=0.5 (a prune spec has no spaces)")
    generate(
        "yopo-missing-equals", "yopo:window",
        "invalid prune spec field window: has no value; write window=VALUE (allowed: an odd integer in [1, 999])")
    generate(
        "sparsevlm-empty-value", "sparsevlm:tokens=",
        "invalid prune spec field tokens: has no value; write tokens=VALUE (allowed: 192, 128 or 64 (the v1.5 schedules))")
    generate("fastv-missing-key", "fastv:=2", "invalid prune spec: '=2' has no field name before = (fields of fastv: k, r, keep)")
    generate("unknown-method", "magic:x=1", "invalid prune spec: unknown method 'magic' (yopo, fastv, pdrop, sparsevlm)")
    generate(
        "method-uppercase", "FastV:k=2", "invalid prune spec: unknown method 'FastV' (yopo, fastv, pdrop, sparsevlm; methods are lowercase)"
    )
    generate(
        "unknown-preset", "yopo-50",
        "invalid prune spec: 'yopo-50' is not none, a preset (yopo-25, yopo-12) or method:key=value (methods: yopo, fastv, pdrop, sparsevlm)"
    )
    generate("bare-yopo", "yopo", "invalid prune spec: yopo needs fields, e.g. yopo:window=5,layers=16,ffn=2")
    generate("sparsevlm-unknown-field", "sparsevlm:ratio=0.5", "invalid prune spec field ratio: unknown field (tokens, layers, keep)")
    generate(
        "yopo-unknown-field", "yopo:stride=2",
        "invalid prune spec field stride: unknown field (window, layers, heads, heads-keep, ffn, heads-scope)")

    // 7. What heads= points to: a device, a directory, nothing, a pipe, a file too large, not a .npy.
    generate(
        "heads-dev-zero", "yopo:heads=/dev/zero", "invalid prune spec field heads: '/dev/zero' is a device, not a regular file; \(tinyMask)"
    )
    mask("heads-directory", "/masks' is a directory, not a file; \(tinyMask)") { s in
        try FileManager.default.createDirectory(atPath: s.path("masks"), withIntermediateDirectories: true)
        return s.path("masks")
    }
    // Relative paths are resolved against the working directory but reported as written.
    generate(
        "heads-missing-relative", "yopo:heads=no-such-dir/mask.npy",
        "invalid prune spec field heads: no file 'no-such-dir/mask.npy'; \(tinyMask)")
    mask("heads-missing-absolute", "/missing.npy'; \(tinyMask)") { s in s.path("missing.npy") }
    mask("heads-fifo", "/fifo.npy' is a pipe, not a regular file; \(tinyMask)") { s in
        guard mkfifo(s.path("fifo.npy"), 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
        return s.path("fifo.npy")
    }
    mask("heads-sparse-4-gib", "/huge.npy' is 4294967296 bytes, more than a [3, 4] mask takes (at most 65644)") { s in
        let path = try s.write("huge.npy", Data())
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 4 << 30)
        try handle.close()
        return path
    }
    mask("heads-not-npy", "/mask.txt' cannot be read as .npy: not a .npy file (bad magic); \(tinyMask)") { s in
        try s.write("mask.txt", Data("1 1 1 1\n1 0 1 0\n0 0 0 1\n".utf8))
    }

    // 8. What a valid .npy mask holds: only 0/1 or bools, the model's [layers, heads].
    mask("heads-nan-entry", "/nan.npy': entry [1, 2] (layer 1, head 2) is nan; a mask holds only 0/1 or true/false") { s in
        try s.write("nan.npy", sweepNPY(descr: "<f4", shape: "(3, 4)", float32: [1, 1, 1, 1, 1, 1, .nan, 1, 1, 1, 1, 1]))
    }
    mask("heads-half-entry", "/half.npy': entry [2, 3] (layer 2, head 3) is 0.5; a mask holds only 0/1 or true/false") { s in
        try s.write("half.npy", sweepNPY(descr: "<f4", shape: "(3, 4)", float32: [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5]))
    }
    mask("heads-uint8-two", "/two.npy': entry [0, 0] (layer 0, head 0) is 2; a mask holds only 0/1 or true/false") { s in
        try s.write("two.npy", sweepNPY(descr: "|u1", shape: "(3, 4)", bytes: [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]))
    }
    mask("heads-one-dimension", "/flat.npy' has shape [12] (1 dimension), the model needs [3, 4] (layers, heads)") { s in
        try s.write("flat.npy", sweepNPY(descr: "|b1", shape: "(12,)", bytes: Array(repeating: 1, count: 12)))
    }
    mask("heads-transposed", "invalid prune spec field heads: mask shape [4, 3] does not match the model's [3, 4] (layers, heads)") { s in
        try s.write("t.npy", sweepNPY(descr: "|b1", shape: "(4, 3)", bytes: Array(repeating: 1, count: 12)))
    }
    generate(
        "heads-7b-mask-on-tiny", "yopo:heads=\(Paths.fixtures.appendingPathComponent("headmasks/headmask_7b_16.npy").path)",
        "invalid prune spec field heads: mask shape [32, 32] does not match the model's [3, 4] (layers, heads)")

    // 9. flops on LLaVA-1.5-7B's dimensions.
    func flops(_ name: String, _ spec: String, _ message: String) {
        cases.append(SweepCase(.pruneSpecs, name, message: message, ["flops", "--arch", "llava-1.5-7b", "--prune", spec]))
    }
    flops("flops-7b-layers-33", "yopo:layers=33", "invalid prune spec field layers: 33 is outside [0, 32] (this model has 32 layers)")
    flops(
        "flops-7b-heads-keep-12", "yopo:heads-keep=12",
        "invalid prune spec field heads-keep: no official mask keeps about 12 heads per layer of this 32 layers × 32 heads model; allowed: 8, 16 or 24"
    )
    flops(
        "flops-7b-window-1001", "yopo:window=1001",
        "invalid prune spec field window: 1001 is above 999; allowed: an odd integer in [1, 999]")
    flops(
        "flops-7b-sparsevlm-tokens-wrong", "sparsevlm:tokens=192,layers=2",
        "invalid prune spec field tokens: give tokens or layers + keep, not both")
    flops(
        "flops-7b-pdrop-ratio-nan", "pdrop:ratio=nan",
        "invalid prune spec field ratio: 'nan' is not a finite number; allowed: a number in (0, 1]")
    flops("flops-7b-fastv-r-and-keep", "fastv:r=0.5,keep=100", "invalid prune spec field r: give r or keep, not both")
    // The bounds generate checks (the pruners' own), not looser ones, under every convention.
    flops(
        "flops-7b-fastv-k-zero", "fastv:k=0",
        "invalid prune spec field k: 0 is outside [1, 31] for a 32-layer model (k=0, dropping before the first layer, is not implemented)")
    flops(
        "flops-7b-pdrop-boundary-at-last-layer", "pdrop:layers=8/16/32",
        "invalid prune spec field layers: 8/16/32 must increase within [1, 31] for a 32-layer model")
    flops(
        "flops-7b-pdrop-duplicate-ratio", "pdrop:ratio=0.5,ratio=0.25",
        "invalid prune spec field ratio: given twice (ratio=0.5 and ratio=0.25); give each field once")
    flops(
        "flops-7b-sparsevlm-duplicate-keep", "sparsevlm:layers=2/6,keep=10/5,keep=3/2",
        "invalid prune spec field keep: given twice (keep=10/5 and keep=3/2); give each field once")
    cases.append(
        SweepCase(
            .pruneSpecs, "flops-7b-tiny-mask",
            message: "invalid prune spec field heads: mask shape [3, 4] does not match the model's [32, 32] (layers, heads)"
        ) { s in
            let path = try s.write("tiny.npy", sweepNPY(descr: "|b1", shape: "(3, 4)", bytes: Array(repeating: 1, count: 12)))
            return ["flops", "--arch", "llava-1.5-7b", "--prune", "yopo:heads=\(path)"]
        })

    // 10. compare: --budget (Budget.swift) and --yopo.
    cases.append(
        SweepCase(
            .pruneSpecs, "compare-budget-nan-percent", message: "invalid budget: 'nan%' is not a percentage (e.g. 25%)",
            sweepCompare(budget: "nan%")))
    cases.append(
        SweepCase(
            .pruneSpecs, "compare-budget-overflow", message: "invalid budget: '1e400' is not a percentage (25%) or a fraction (0.25)",
            sweepCompare(budget: "1e400")))
    cases.append(
        SweepCase(
            .pruneSpecs, "compare-budget-line-break", message: "invalid budget: '25%\\n5' is not a percentage (25%) or a fraction (0.25)",
            sweepCompare(budget: "25%\n5")))
    cases.append(
        SweepCase(
            .pruneSpecs, "compare-yopo-window-twice", message: "invalid prune spec field window: given twice (window=3 and window=5)",
            sweepCompare(["--yopo", "yopo:window=3,window=5"])))
    return cases
}()

/// `compare` on the bundled tiny checkpoint and photo at `budget`.
func sweepCompare(budget: String = "50%", _ extra: [String] = []) -> [String] {
    [
        "compare", "--model", Paths.model("llava-hf-tiny"), "--image", Paths.image("chelsea.png"), "--prompt", "What is shown?",
        "--budget", budget
    ] + extra
}

/// A `.npy` (version 1.0) with `descr` and `shape` (Python tuple text) holding `bytes` or little-endian `float32`.
func sweepNPY(descr: String, shape: String, bytes: [UInt8] = [], float32: [Float] = []) -> Data {
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
    data += Data(header.utf8) + Data(bytes)
    for value in float32 { withUnsafeBytes(of: value.bitPattern.littleEndian) { data += Data($0) } }
    return data
}
