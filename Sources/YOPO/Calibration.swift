import Foundation
import YOPOCore
import YOPOEval
import YOPOModels
import YOPOPruning

// `yopo calibrate`: head masks found once from a few calibration samples (METHOD.md §4.2), by the
// official LLaVA rule or a target keep fraction, from the attention the engine itself computes.

/// One calibration sample's statistics: `[layers][heads]` masses of its question rows and of its
/// image rows (`AttentionMassRecorder`).
public struct CalibrationSample: Sendable, Equatable {
    public var textQueries: [[VisualAttentionMass]]
    public var visualQueries: [[VisualAttentionMass]]
    /// `[layers][d]`: image rows' mass on image keys at grid distance d (`AttentionMassRecorder`).
    public var visualDistance: [[Double]]
}

extension Session {
    /// The attention masses of `request`'s prompt in one dense prefill (its pruning is ignored).
    /// Throws what `generate` throws for a request that cannot run, and
    /// `GenerationError.invalidOption` for a prompt without an image followed by text.
    public func attentionMasses(_ request: GenerationRequest) throws -> CalibrationSample {
        try exclusive {
            var dense = request
            dense.prune = .none
            let counter = FLOPCounter()
            let prepared = try prepare(dense, plan: nil, counter: counter)
            let prompt = prepared.prompt
            guard let last = prompt.imageSpans.last, last.range.upperBound < prompt.ids.count else {
                throw GenerationError.invalidOption("a calibration sample needs an image followed by text")
            }
            let spec = model.decoder.spec
            let grid = prepared.images[prompt.imageSpans.count - 1].tokenGrid
            guard prepared.images.allSatisfy({ $0.tokenGrid == grid }) else {
                throw GenerationError.invalidOption("a calibration sample's images must share one token grid (give one image per sample)")
            }
            let recorder = AttentionMassRecorder(
                layers: spec.numHiddenLayers, heads: spec.numAttentionHeads, gridRows: grid.rows, gridColumns: grid.columns)
            let embeddings = try model.inputEmbeddings(ids: prompt.ids, images: prepared.features)
            // Every row attends in the last layer too: ask for every row's logits.
            _ = model.decoder.forward(
                embeddings, cache: model.decoder.makeCache(capacity: prompt.ids.count), images: layouts(prompt, images: prepared.images),
                plan: .rowHooks(recorder), logitRows: Array(0..<prompt.ids.count),
                rotaryPositions: try model.rotaryPositions(ids: prompt.ids, images: prepared.images))
            return CalibrationSample(
                textQueries: recorder.textQueries, visualQueries: recorder.visualQueries, visualDistance: recorder.visualDistance)
        }
    }
}

/// Which query rows' attention a mask is calibrated on.
public enum CalibrationQueries: String, Sendable, CaseIterable {
    /// The question rows after the image (the official dumps' saved query rows, METHOD.md §4.2).
    case text
    /// The image rows.
    case visual
}

/// A calibration run: the first `samples` questions with an image of a benchmark file.
public struct Calibration {
    public var benchmark: BenchmarkName
    public var questionsFile: String
    public var imagesDirectory: String?
    public var samples: Int
    public var rule: HeadMaskRule
    public var queries: CalibrationQueries

    public init(
        benchmark: BenchmarkName, questionsFile: String, imagesDirectory: String?, samples: Int, rule: HeadMaskRule,
        queries: CalibrationQueries = .text
    ) {
        self.benchmark = benchmark
        self.questionsFile = questionsFile
        self.imagesDirectory = imagesDirectory
        self.samples = samples
        self.rule = rule
        self.queries = queries
    }

    /// The mask `[layers][heads]` and the per-sample statistics it was chosen from. Throws
    /// `EvalError` for the question file, `GenerationError.invalidOption` when it has fewer
    /// questions with an image than `samples`, what the session throws for an image, and
    /// `HeadCalibrationError` for the rule.
    public func run(on session: Session, progress: ((Int, Int) -> Void)? = nil) throws -> (mask: [[Bool]], samples: [CalibrationSample]) {
        let questions = try loadBenchmarkQuestions(benchmark, questionsFile: questionsFile).filter { $0.image != nil }
        guard samples >= 1, questions.count >= samples else {
            throw GenerationError.invalidOption(
                "\(questionsFile) has \(questions.count) question(s) with an image; --samples \(samples) needs at least that many")
        }
        var recorded: [CalibrationSample] = []
        for (i, q) in questions.prefix(samples).enumerated() {
            let image: ImageInput
            switch q.image! {
            case .file(let name):
                guard let dir = imagesDirectory else {
                    throw GenerationError.invalidOption("the questions name image files (\(name)); give --images DIR")
                }
                image = .path((dir as NSString).appendingPathComponent(name))
            case .data(let data): image = .data(data)
            }
            recorded.append(try session.attentionMasses(GenerationRequest(prompt: q.prompt, images: [image])))
            progress?(i + 1, samples)
        }
        let masses = recorded.map { queries == .text ? $0.textQueries : $0.visualQueries }
        return (try HeadCalibration.mask(masses, rule: rule), recorded)
    }
}
