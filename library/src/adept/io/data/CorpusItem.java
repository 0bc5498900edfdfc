package adept.io.data;

/** One item of a corpus: plain text (every token a target) or an instruction with its answer (only answer tokens are targets). */
public sealed interface CorpusItem {
    /** 1-based line of the item in its file (0 for whole-file text). */
    long line();

    /** A plain text item: every token is a target. */
    record Text(String text, long line) implements CorpusItem {}

    /** An instruction and its answer: only the answer's tokens are targets. */
    record Instruction(String instruction, String output, long line) implements CorpusItem {
        /** The prompt as the method renders it; the answer follows it directly. */
        public String prompt() {
            return "User: " + instruction + "\nAssistant:";
        }

        /** The answer text after the prompt (the rendered item is prompt() + answer()). */
        public String answer() {
            return " " + output;
        }
    }
}
