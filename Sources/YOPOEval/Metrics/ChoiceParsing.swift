import Foundation

/// The answer parsers of the yes/no and multiple-choice benchmarks, each as its reference script has it.
public enum AnswerParsing {
    /// GQA (LLaVA `scripts/convert_gqa_for_eval.py`): `text.rstrip('.').lower()` — every trailing period
    /// goes, then lower-case; GQA's `eval.py` then compares with `==` to the gold answer.
    public static func gqaPrediction(_ text: String) -> String {
        PythonText.lower(PythonText.rstrip(text, ["."]))
    }

    /// POPE (LLaVA `llava/eval/eval_pope.py`): keep the text before the first `.`, delete `,`, split on
    /// single spaces; "no" if a word is exactly `No`, `not` or `no`, else "yes" (so "No, there is not."
    /// is no, "Not really" is yes, "NO" is yes, an empty answer is yes).
    public static func popeAnswer(_ text: String) -> String {
        var t = text
        if PythonText.find(t, ".") != -1 { t = PythonText.split(t, separator: ".")[0] }
        t = PythonText.replace(t, ",", "")
        let words = PythonText.split(t, separator: " ")
        return words.contains("No") || words.contains("not") || words.contains("no") ? "no" : "yes"
    }

    /// MME (MME eval_tool `calculation.py` `parse_pred_ans` on what LLaVA's `convert_answer_to_mme.py`
    /// wrote): the answer is lower-cased; "yes"/"no" when equal, else "yes" if the first 4 code points
    /// contain `yes`, else "no" if they contain `no` (so "Not sure" → no, "None" → no), else "other".
    /// The tool reads the answer back with its line's `\n`, which never changes the outcome.
    public static func mmeAnswer(_ text: String) -> String {
        let pred = PythonText.lower(text)
        if pred == "yes" || pred == "no" { return pred }
        let prefix = PythonText.prefix(pred, 4)
        if PythonText.contains(prefix, "yes") { return "yes" }
        if PythonText.contains(prefix, "no") { return "no" }
        return "other"
    }

    /// ScienceQA (LLaVA `llava/eval/eval_science_qa.py`): the text itself when it is one of `options`;
    /// else its first character when that is an option and characters 2–3 are ". "; else the letter of
    /// the only match of `The answer is ([A-Z]).` (any character after the letter); else "FAILED".
    public static func scienceQAAnswer(_ text: String, options: [String] = ["A", "B", "C", "D", "E"]) -> String {
        if options.contains(text) { return text }
        let s = Array(text.unicodeScalars)
        if s.count >= 3, options.contains(String(s[0])), s[1] == ".", s[2] == " " { return String(s[0]) }
        // re.findall(r'The answer is ([A-Z]).', text): non-overlapping, left to right.
        let marker = Array("The answer is ".unicodeScalars)
        var found: [String] = []
        var i = 0
        while i + marker.count + 2 <= s.count {
            if s[i..<(i + marker.count)].elementsEqual(marker), (0x41...0x5A).contains(s[i + marker.count].value),
                s[i + marker.count + 1] != "\n"
            {
                found.append(String(s[i + marker.count]))
                i += marker.count + 2
            } else {
                i += 1
            }
        }
        return found.count == 1 ? found[0] : "FAILED"
    }

    /// MMBench `can_infer_option` (lmms-eval `tasks/mmbench/mmbench_evals.py`, the same as MMBench's
    /// official evaluator / VLMEvalKit): split on whitespace; when exactly one of the letters A–E (always
    /// five, whatever the options) is a word, that letter — unless `A` is a word and there are more than 3
    /// words ("A" may be an article); else, for each wrapping in order `X.`, `X,`, `X:`, `X)`, `X).`,
    /// `(X)`, `(X).`, `:X`, `:X,`, `:X.`, `:X)`, `:X).`, the letter when exactly one letter appears so
    /// wrapped. nil when none (and for answers containing "Failed to obtain answer via API").
    public static func canInferOption(_ answer: String, numChoice: Int = 5) -> String? {
        let choices = Array("ABCDE".prefix(numChoice)).map(String.init)
        if PythonText.contains(answer, "Failed to obtain answer via API") { return nil }
        let splits = PythonText.split(answer).map { PythonText.strip($0) }
        func count(_ prefix: String, _ suffix: String) -> Int { choices.filter { splits.contains(prefix + $0 + suffix) }.count }
        if count("", "") == 1 {
            for ch in choices {
                if splits.contains("A") && splits.count > 3 { break }
                if splits.contains(ch) { return ch }
            }
        }
        let wrappings = [
            ("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."), (":", ""), (":", ","), (":", "."),
            (":", ")"), (":", ").")
        ]
        for (prefix, suffix) in wrappings where count(prefix, suffix) == 1 {
            for ch in choices where splits.contains(prefix + ch + suffix) { return ch }
        }
        return nil
    }

    /// MMBench `can_infer_text`: the option letter whose lower-cased text is a substring of the
    /// lower-cased answer, when exactly one option's is; `choices` are the present options (A–D,
    /// missing ones left out) in letter order.
    public static func canInferText(_ answer: String, choices: [(letter: String, text: String)]) -> String? {
        let lowered = PythonText.lower(answer)
        let candidates = choices.filter { PythonText.contains(lowered, PythonText.lower($0.text)) }
        return candidates.count == 1 ? candidates[0].letter : nil
    }

    /// MMBench `can_infer`: `canInferOption`, else `canInferText`.
    public static func canInfer(_ answer: String, choices: [(letter: String, text: String)]) -> String? {
        canInferOption(answer) ?? canInferText(answer, choices: choices)
    }

    /// TextVQA (LLaVA `llava/eval/eval_textvqa.py` `prompt_processor`): the question inside an answer
    /// line's prompt, lower-cased — after `OCR tokens: … Question: (.*?) Short answer:`; the line that is
    /// not the `Reference OCR token:` line of a 3-line prompt; the first line of a 2-line prompt. nil where
    /// the reference asserts.
    public static func textVQAQuestion(prompt: String) -> String? {
        let lines = PythonText.split(prompt, separator: "\n")
        if prompt.hasPrefix("OCR tokens: ") {
            guard let start = prompt.range(of: "Question: "),
                let end = prompt.range(of: " Short answer:", range: start.upperBound..<prompt.endIndex)
            else { return nil }
            return PythonText.lower(String(prompt[start.upperBound..<end.lowerBound]))
        } else if PythonText.contains(prompt, "Reference OCR token: ") && lines.count == 3 {
            return PythonText.lower(prompt.hasPrefix("Reference OCR token:") ? lines[1] : lines[0])
        } else if lines.count == 2 {
            return PythonText.lower(lines[0])
        }
        return nil
    }
}
