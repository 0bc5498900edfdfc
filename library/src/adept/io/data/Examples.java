package adept.io.data;

import adept.io.tokenizer.Tokenizer;
import adept.io.tokenizer.TokenizerException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Tokenizes corpus items into examples that fit a context length. */
public final class Examples {
    /** What to do with an item longer than the context. */
    public enum LongItems {
        /** Fail, naming the file and line (probing must see whole items). */
        ERROR,
        /** Cut the item into consecutive windows (evaluation of long documents). */
        SPLIT
    }

    private Examples() {}

    /**
     * Tokenizes items in order, stopping once tokenBudget target tokens are reached (0 =
     * no budget). BOS is prepended when the tokenizer adds one by default.
     */
    public static List<Example> tokenize(Path file, List<CorpusItem> items, Tokenizer tokenizer, int contextLength,
                                         LongItems longItems, long tokenBudget) {
        if (contextLength < 2) throw new DataException("context length must be >= 2, got " + contextLength);
        boolean bos = tokenizer.addsBosByDefault();
        List<Example> out = new ArrayList<>();
        long targets = 0;
        for (CorpusItem item : items) {
            if (longItems == LongItems.ERROR) checkNotTooLong(file, item, tokenizer, contextLength);
            Example example;
            try {
                example = switch (item) {
                    case CorpusItem.Text t -> allTargets(tokenizer.encode(t.text(), bos, false), t.line());
                    case CorpusItem.Instruction in -> answerTargets(tokenizer.encode(in.prompt(), bos, false),
                            tokenizer.encode(in.answer(), false, false), in.line());
                };
            } catch (TokenizerException e) {
                throw new DataException(file + ":" + item.line() + ": " + e.getMessage(), e);
            }
            List<Example> pieces;
            if (example.length() <= contextLength) {
                pieces = List.of(example);
            } else if (longItems == LongItems.ERROR) {
                throw new DataException(file + ":" + item.line() + ": item has " + example.length()
                        + " tokens, more than the context length " + contextLength);
            } else {
                pieces = split(example, contextLength);
            }
            for (Example piece : pieces) {
                if (piece.targetCount() == 0) continue;
                out.add(piece);
                targets += piece.targetCount();
                if (tokenBudget > 0 && targets >= tokenBudget) return out;
            }
        }
        if (out.isEmpty()) throw new DataException(file + ": no item has a token to predict");
        return out;
    }

    /**
     * Fails before tokenizing an item that cannot fit: every token stands for at most {@link
     * Tokenizer#maxTokenChars()} characters of text, so a text of more than contextLength times that (doubled, for
     * normalizers that shorten text) has more tokens than the context. Tokenizing a 50 MB line only to count its
     * tokens would take gigabytes.
     */
    private static void checkNotTooLong(Path file, CorpusItem item, Tokenizer tokenizer, int contextLength) {
        // Only characters that are not white space: some pre-tokenizers (Whitespace, BERT's) drop white space.
        long chars = switch (item) {
            case CorpusItem.Text t -> visibleChars(t.text());
            case CorpusItem.Instruction in -> visibleChars(in.prompt()) + visibleChars(in.answer());
        };
        long bound = 2L * contextLength * Math.max(1, tokenizer.maxTokenChars());
        if (chars > bound) {
            throw new DataException(file + ":" + item.line() + ": item has " + chars + " characters (not counting white space), too many"
                    + " for the context length " + contextLength + " (with this tokenizer at most " + bound + " fit)");
        }
    }

    private static long visibleChars(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) if (!Character.isWhitespace(s.charAt(i))) n++;
        return n;
    }

    static Example allTargets(long[] ids, long line) {
        boolean[] targets = new boolean[ids.length];
        Arrays.fill(targets, true);
        if (targets.length > 0) targets[0] = false;
        return new Example(ids, targets, line);
    }

    static Example answerTargets(long[] prompt, long[] answer, long line) {
        long[] ids = Arrays.copyOf(prompt, prompt.length + answer.length);
        System.arraycopy(answer, 0, ids, prompt.length, answer.length);
        boolean[] targets = new boolean[ids.length];
        for (int i = Math.max(1, prompt.length); i < ids.length; i++) targets[i] = true;
        return new Example(ids, targets, line);
    }

    /** Consecutive windows; each window's first token has no context, so it is not a target. */
    static List<Example> split(Example e, int window) {
        List<Example> out = new ArrayList<>();
        for (int start = 0; start < e.length(); start += window) {
            int end = Math.min(e.length(), start + window);
            boolean[] targets = Arrays.copyOfRange(e.targets(), start, end);
            targets[0] = false;
            out.add(new Example(Arrays.copyOfRange(e.ids(), start, end), targets, e.line()));
        }
        return out;
    }

    /**
     * The id that pads batches for a model with this vocabulary: the tokenizer's pad token, else its eos, else 0;
     * an id outside the vocabulary becomes 0 (padding is masked out of every loss, so any valid id will do).
     */
    public static long paddingId(Tokenizer tokenizer, long vocabSize) {
        long id = tokenizer.padId().orElse(tokenizer.eosId().orElse(0));
        return id >= 0 && id < vocabSize ? id : 0;
    }

    /** Fails naming the file and line of the first token id outside the model's vocabulary (file may be null). */
    public static void requireInVocabulary(Path file, List<Example> examples, long vocabSize) {
        for (Example e : examples) requireInVocabulary(file, e.line(), e.ids(), vocabSize);
    }

    /** The same for one sequence of ids from the given line. */
    public static void requireInVocabulary(Path file, long line, long[] ids, long vocabSize) {
        for (long id : ids) {
            if (id < 0 || id >= vocabSize) {
                throw new DataException((file != null ? file + ":" + line : "line " + line) + ": token id " + id
                        + " is outside the model's vocabulary of " + vocabSize + " (does the tokenizer belong to this model?)");
            }
        }
    }
}
