import Foundation
import YOPOEval
import YOPOPruning
import YOPOText

// What `yopo eval` reports: per plan its score, speed and FLOPs (summary.json next to its answers),
// and for several plans the comparison table (comparison.md).

/// One plan's run.
public struct EvaluationPlanSummary: Sendable {
    public var plan: EvaluationPlan
    public var answersFile: String
    /// Questions the answer file covers, and how many this run answered.
    public var questions: Int
    public var answered: Int
    /// Seconds this run spent on the plan (its prefixes and questions), and answered / seconds.
    public var seconds: Double
    public var questionsPerSecond: Double
    public var generatedTokens: Int
    /// Mean executed FLOPs per answered question as a run of the question alone counts them (image
    /// and prefix included: comparable across plans and with `yopo generate`).
    public var executedFLOPsPerQuestion: Double
    /// Mean FLOPs per answered question that really executed, with each prefix counted once.
    public var executedFLOPsWithReusePerQuestion: Double
    /// Mean per question under each paper's convention (docs/FLOPS.md), where it counts the plan.
    public var conventionFLOPs: [(convention: FLOPsConvention, flops: Double)]
    /// Prefixes made and the largest one's bytes.
    public var prefixes: Int
    public var prefixBytes: Int
    public var score: BenchmarkScore?
    public var submissionFiles: [String]

    /// The summary as an ordered JSON object (summary.json).
    public var json: JSONValue {
        var members: [JSONMember] = [
            JSONMember("method", .string(plan.method)), JSONMember("prune", .string(plan.prune.description)),
            JSONMember("yopo_mode", plan.prune.isYOPO ? .string(plan.yopoMode.rawValue) : .null),
            JSONMember("answers", .string(answersFile)), JSONMember("questions", .number(Double(questions))),
            JSONMember("answered", .number(Double(answered))), JSONMember("seconds", .number(rounded(seconds))),
            JSONMember("questions_per_second", .number(rounded(questionsPerSecond))),
            JSONMember("generated_tokens", .number(Double(generatedTokens))),
            JSONMember("executed_flops_per_question", .number(executedFLOPsPerQuestion.rounded())),
            JSONMember("executed_flops_with_reuse_per_question", .number(executedFLOPsWithReusePerQuestion.rounded())),
            JSONMember(
                "convention_flops_per_question",
                .object(conventionFLOPs.map { JSONMember($0.convention.rawValue, .number($0.flops.rounded())) })),
            JSONMember("prefixes", .number(Double(prefixes))), JSONMember("prefix_bytes", .number(Double(prefixBytes)))
        ]
        members.append(JSONMember("score", score?.json ?? .null))
        members.append(JSONMember("submission_files", .array(submissionFiles.map { .string($0) })))
        return .object(members)
    }
}

/// A whole run: every plan's summary.
public struct EvaluationSummary: Sendable {
    public var benchmark: BenchmarkName
    public var model: String
    public var shard: Shard
    public var prefixCache: Bool
    public var questions: Int
    public var answered: Int
    public var resumed: Int
    public var seconds: Double
    /// Images read and encoded once for all plans (prefix cache on).
    public var imagesEncoded: Int
    public var encodeSeconds: Double
    public var plans: [EvaluationPlanSummary]

    public var json: JSONValue {
        .object([
            JSONMember("benchmark", .string(benchmark.rawValue)), JSONMember("model", .string(model)),
            JSONMember("shard", .string(shard.description)), JSONMember("prefix_cache", .bool(prefixCache)),
            JSONMember("questions", .number(Double(questions))), JSONMember("answered", .number(Double(answered))),
            JSONMember("resumed", .number(Double(resumed))), JSONMember("seconds", .number(rounded(seconds))),
            JSONMember("images_encoded", .number(Double(imagesEncoded))), JSONMember("encode_seconds", .number(rounded(encodeSeconds))),
            JSONMember("plans", .array(plans.map(\.json)))
        ])
    }

    /// The comparison table (Markdown): score, executed FLOPs, FLOPs in the YOPO paper's convention,
    /// time, per plan.
    public var table: String {
        func tflops(_ x: Double?) -> String { x.map { String(format: "%.3f", $0 / 1e12) } ?? "–" }
        let scoreName = plans.first?.score?.primary.name ?? "score"
        var out = "# \(benchmark.rawValue) — \(model), \(questions) questions\(shard.count > 1 ? ", shard \(shard)" : "")\n\n"
        out += "| method | prune | \(scoreName) | executed TFLOPs/q | YOPO-convention TFLOPs/q | q/s | seconds |\n"
        out += "|---|---|---:|---:|---:|---:|---:|\n"
        for p in plans {
            let score = p.score.map { String(format: "%.2f", $0.primary.value) } ?? "–"
            let yopo = p.conventionFLOPs.first { $0.convention == .yopo }?.flops
            out += "| \(p.plan.method) | `\(p.plan.prune.description)`\(p.plan.prune.isYOPO ? " (\(p.plan.yopoMode.rawValue))" : "") | "
            out += "\(score) | \(tflops(p.executedFLOPsPerQuestion)) | \(tflops(yopo)) | "
            out += String(format: "%.3f | %.1f |\n", p.questionsPerSecond, p.seconds)
        }
        return out
    }
}

func rounded(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

extension PlanRun {
    func summary(
        questions: Int, session: Session, score: BenchmarkScore?, submissions: [String], options: EvaluationOptions
    ) throws -> EvaluationPlanSummary {
        let n = Double(max(answered, 1))
        return EvaluationPlanSummary(
            plan: plan, answersFile: final, questions: questions, answered: answered, seconds: seconds,
            questionsPerSecond: seconds > 0 ? Double(answered) / seconds : 0, generatedTokens: generatedTokens,
            executedFLOPsPerQuestion: Double(executedPerQuestion) / n, executedFLOPsWithReusePerQuestion: Double(executedWithReuse) / n,
            conventionFLOPs: Comparison.conventions.compactMap { c in
                conventionFLOPs[c].map { (c, $0 / Double(conventionCounted[c] ?? 1)) }
            }, prefixes: prefixes, prefixBytes: prefixBytes, score: score, submissionFiles: submissions)
    }
}
