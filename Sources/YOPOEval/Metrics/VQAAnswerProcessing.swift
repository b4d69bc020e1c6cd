import Foundation

/// The VQA answer normalisation of EvalAI as LLaVA's `llava/eval/m4c_evaluator.py` `EvalAIAnswerProcessor`
/// applies it (identical in lmms-eval's `_task_utils/vqa_eval_metric.py`; both copied from mmf): used on
/// the prediction before VQAv2 submission (`convert_vqav2_for_submission.py`) and on prediction and
/// human answers in TextVQA's `TextVQAAccuracyEvaluator`.
///
/// Steps, each a Python `str` operation on code points:
/// 1. `word_tokenize`: lower-case, delete every `,` and `?`, `'s` → ` 's`, strip;
/// 2. `\n`, `\t` → space, strip;
/// 3. `process_punctuation`: for each mark of `punctuations` in order, delete it everywhere when the
///    original text has it next to a space (or contains digit,digit — never true here, step 1 deleted the
///    commas), else replace it everywhere by a space; then `PERIOD_STRIP` deletes a `.` not followed by a
///    digit. Kept quirks: the pattern `(?!<=\d)(\.)(?!\d)` has a typo (a lookahead for the text `<=`+digit,
///    so only "not followed by a digit" counts), and `re.UNICODE` is passed as `re.sub`'s `count`, so at
///    most 32 periods are removed;
/// 4. `process_digit_article`: lower-case, split on whitespace, number words none/zero…ten → digits,
///    drop the articles a/an/the, map each word through `contractions`, join with single spaces.
public struct EvalAIAnswerProcessor: Sendable {
    public init() {}

    /// The processed answer (see the type's description).
    public func callAsFunction(_ answer: String) -> String {
        var item = wordTokenize(answer)
        item = PythonText.strip(PythonText.replace(PythonText.replace(item, "\n", " "), "\t", " "))
        item = processPunctuation(item)
        return processDigitArticle(item)
    }

    /// Step 1 (`word_tokenize`).
    public func wordTokenize(_ word: String) -> String {
        var w = PythonText.lower(word)
        w = PythonText.replace(PythonText.replace(PythonText.replace(w, ",", ""), "?", ""), "'s", " 's")
        return PythonText.strip(w)
    }

    /// Step 3 (`process_punctuation`), with `COMMA_STRIP` = `(?<=\d)(\,)+(?=\d)` (Unicode digits).
    public func processPunctuation(_ text: String) -> String {
        VQAText.processPunctuation(
            text, hasDigitComma: VQAText.hasDigitComma(text, digit: PythonText.isDecimalDigit),
            digit: PythonText.isDecimalDigit)
    }

    /// Step 4 (`process_digit_article`).
    public func processDigitArticle(_ text: String) -> String { VQAText.processDigitArticle(text) }
}

/// The answer normalisation of the official VQA evaluator, GT-Vision-Lab/VQA
/// `PythonEvaluationTools/vqaEvaluation/vqaEval.py` (Python 2), the variant named "vqaEval" in scores.
/// It differs from `EvalAIAnswerProcessor`: no `word_tokenize` (no `,`/`?` deletion, no `'s` split, no
/// up-front lower-casing), `commaStrip` is `(\d)(\,)(\d)` and — Python 2 without `re.UNICODE` — `\d` is
/// ASCII 0–9, so a number like `1,000` makes every punctuation mark be deleted instead of spaced; and
/// `VQAEval.evaluate` normalises only when the question's human answers are not all the same.
public struct VQAEvalAnswerProcessor: Sendable {
    public init() {}

    /// `\n`, `\t` → space, then strip: applied to every answer and the prediction unconditionally.
    public func clean(_ answer: String) -> String {
        PythonText.strip(PythonText.replace(PythonText.replace(answer, "\n", " "), "\t", " "))
    }

    /// `processPunctuation` then `processDigitArticle` (applied to cleaned text when answers differ).
    public func callAsFunction(_ answer: String) -> String {
        processDigitArticle(processPunctuation(answer))
    }

    /// `processPunctuation`.
    public func processPunctuation(_ text: String) -> String {
        VQAText.processPunctuation(text, hasDigitComma: VQAText.hasSingleDigitComma(text), digit: PythonText.isASCIIDigit)
    }

    /// `processDigitArticle` (the same tables as EvalAI's).
    public func processDigitArticle(_ text: String) -> String { VQAText.processDigitArticle(text) }
}

/// The normalisation tables and steps both processors share (equal in m4c_evaluator.py, lmms-eval's
/// vqa_eval_metric.py and vqaEval.py; checked by Tools/reference/make_eval_fixtures.py).
public enum VQAText {
    /// The 21 punctuation marks, in the reference's order (the order matters: each is handled in turn).
    public static let punctuations: [String] = [
        ";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"
    ]
    /// Number words → digits.
    public static let numberMap: [String: String] = [
        "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
        "seven": "7", "eight": "8", "nine": "9", "ten": "10"
    ]
    /// The articles dropped.
    public static let articles: Set<String> = ["a", "an", "the"]
    /// `re.sub(PERIOD_STRIP, "", text, re.UNICODE)`: `re.UNICODE` (32) lands in `count`.
    public static let periodStripCount = 32

    static func hasDigitComma(_ text: String, digit: (Unicode.Scalar) -> Bool) -> Bool {
        // (?<=\d)(\,)+(?=\d): a digit, one or more commas, a digit.
        let s = Array(text.unicodeScalars)
        var i = 1
        while i < s.count {
            if s[i] == ",", digit(s[i - 1]) {
                var j = i
                while j < s.count, s[j] == "," { j += 1 }
                if j < s.count, digit(s[j]) { return true }
                i = j
            } else {
                i += 1
            }
        }
        return false
    }

    static func hasSingleDigitComma(_ text: String) -> Bool {
        let s = Array(text.unicodeScalars)
        guard s.count >= 3 else { return false }
        for i in 1..<(s.count - 1) where s[i] == "," && PythonText.isASCIIDigit(s[i - 1]) && PythonText.isASCIIDigit(s[i + 1]) {
            return true
        }
        return false
    }

    static func processPunctuation(_ inText: String, hasDigitComma: Bool, digit: (Unicode.Scalar) -> Bool) -> String {
        var out = inText
        for p in punctuations {
            if PythonText.contains(inText, p + " ") || PythonText.contains(inText, " " + p) || hasDigitComma {
                out = PythonText.replace(out, p, "")
            } else {
                out = PythonText.replace(out, p, " ")
            }
        }
        // PERIOD_STRIP: a "." not followed by a digit, at most `periodStripCount` of them.
        let s = Array(out.unicodeScalars)
        var result = String.UnicodeScalarView()
        var removed = 0
        for (i, u) in s.enumerated() {
            if u == ".", removed < periodStripCount, !(i + 1 < s.count && digit(s[i + 1])) {
                removed += 1
                continue
            }
            result.append(u)
        }
        return String(result)
    }

    static func processDigitArticle(_ inText: String) -> String {
        var words: [String] = []
        for word in PythonText.split(PythonText.lower(inText)) {
            let w = numberMap[word] ?? word
            if !articles.contains(w) { words.append(w) }
        }
        return words.map { contractions[$0] ?? $0 }.joined(separator: " ")
    }

    /// The contraction table (keys without apostrophes or misplaced ones → the standard spelling), the
    /// same 120 entries in all three references.
    public static let contractions: [String: String] = [
        "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't", "couldn'tve": "couldn't've",
        "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've",
        "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've",
        "hes": "he's", "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
        "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
        "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
        "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
        "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've",
        "she'dve": "she'd've", "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
        "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
        "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
        "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
        "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
        "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're", "theres": "there's",
        "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're",
        "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've",
        "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's",
        "whered": "where'd", "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
        "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
        "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all",
        "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
        "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've"
    ]
}
