package adept.eval;

import adept.io.data.Batch;
import adept.io.data.Examples;
import adept.io.data.DataException;
import adept.io.data.Example;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * Multiple-choice accuracy (MMLU-style JSON Lines: {"question", "choices", "answer"}) by comparing the
 * log-likelihood of each choice as the continuation of "Question: ...\nAnswer:", cloze style. Two scores,
 * as lm-evaluation-harness reports them: the summed log-likelihood (acc) and the log-likelihood per byte
 * of the choice (acc_norm, which does not favour short choices). With shots > 0 the first items of the file
 * are the worked examples in every prompt and are not scored.
 */
public final class MultipleChoice {
    private MultipleChoice() {}

    /** A question, its choices, the index of the right one and its line in the file. */
    public record Item(String question, List<String> choices, int answer, long line) {}

    /** Accuracy over the scored items (summed and per-byte log-likelihood), the chance level and the time taken. */
    public record Result(int items, int shots, double accuracy, double accuracyNorm, double chance, double seconds) {}

    /** Called as items are scored. */
    @FunctionalInterface
    public interface Progress {
        /** After each scored item. */
        void itemsDone(int done, int total);
    }

    /** Whether the file's first non-blank line is a multiple-choice item (has "question" and "choices"). */
    public static boolean looksLikeMultipleChoice(Path file) {
        // Content, not name; refuses (DataException) a FIFO, device, binary or empty file before any line is read.
        if (adept.io.data.CorpusFormat.detect(file).kind() != adept.io.data.CorpusFormat.Kind.JSON_LINES) return false;
        try (BufferedReader r = open(file, false)) {  // lenient decoding to look; read() then refuses invalid UTF-8
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank()) continue;
                JsonElement e = JsonParser.parseString(line);
                return e.isJsonObject() && e.getAsJsonObject().has("question") && e.getAsJsonObject().has("choices");
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return false;
    }

    /** Reads MMLU-style JSON Lines (gzip or not); errors name the file and line. */
    public static List<Item> read(Path file) {
        List<Item> items = new ArrayList<>();
        long number = 0;
        try (BufferedReader r = open(file, true)) {
            for (String line; (line = r.readLine()) != null; ) {
                number++;
                if (line.length() > adept.io.data.CorpusReader.MAX_ITEM_BYTES) {
                    throw new DataException(file + ":" + number + ": line longer than " + adept.io.data.CorpusReader.MAX_ITEM_BYTES + " characters");
                }
                if (line.isBlank()) continue;
                items.add(parse(file, number, line));
            }
        } catch (NoSuchFileException e) {
            throw new DataException(file + ": no such file");
        } catch (java.nio.charset.CharacterCodingException e) {
            // The reader decodes ahead of the lines it returns: the bad byte is at or after this line.
            throw new DataException(file + ": not valid UTF-8 text (at or after line " + (number + 1) + ")");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (items.isEmpty()) throw new DataException(file + ": no multiple-choice item");
        return items;
    }

    private static Item parse(Path file, long number, String line) {
        String where = file + ":" + number + ": ";
        JsonObject o = adept.io.data.CorpusReader.parseObject(file, number, line);
        JsonElement q = o.get("question");
        JsonElement c = o.get("choices");
        JsonElement a = o.get("answer");
        if (q == null || !q.isJsonPrimitive() || !q.getAsJsonPrimitive().isString()) throw new DataException(where + "\"question\" must be a string");
        if (c == null || !c.isJsonArray() || c.getAsJsonArray().isEmpty()) throw new DataException(where + "\"choices\" must be a non-empty list");
        List<String> choices = new ArrayList<>();
        for (JsonElement e : (JsonArray) c) {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) throw new DataException(where + "every choice must be a string");
            choices.add(e.getAsString());
        }
        if (a == null || !a.isJsonPrimitive() || !a.getAsJsonPrimitive().isNumber()) throw new DataException(where + "\"answer\" must be a choice index");
        double answer = a.getAsDouble();
        if (answer != Math.rint(answer) || answer < 0 || answer >= choices.size()) {
            throw new DataException(where + "\"answer\" " + a + " is not an index into " + choices.size() + " choices");
        }
        return new Item(q.getAsString(), choices, (int) answer, number);
    }

    private static BufferedReader open(Path file, boolean strict) throws IOException {
        InputStream in = new java.io.BufferedInputStream(Files.newInputStream(file));
        in.mark(2);
        int b1 = in.read();
        int b2 = in.read();
        in.reset();
        if (b1 == 0x1f && b2 == 0x8b) in = new GZIPInputStream(in, 1 << 16);
        if (!strict) return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16);
        // Strict: invalid UTF-8 is an error (CharacterCodingException), not silently replaced by U+FFFD.
        return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)), 1 << 16);
    }

    static String prompt(Item item) {
        return "Question: " + item.question().strip() + "\nAnswer:";
    }

    /** Scores items[shots..] with items[0..shots) as worked examples; contexts are cut from the left to fit maxLength. */
    public static Result evaluate(CausalLM model, Tokenizer tokenizer, List<Item> items, int shots, int batchSize, int maxLength,
                                  long padId, Progress progress) {
        if (shots < 0 || shots >= items.size()) throw new DataException("--shots must be in 0.." + (items.size() - 1) + ", got " + shots);
        long start = System.nanoTime();
        StringBuilder examples = new StringBuilder();
        for (int i = 0; i < shots; i++) {
            Item s = items.get(i);
            examples.append(prompt(s)).append(' ').append(s.choices().get(s.answer()).strip()).append("\n\n");
        }
        boolean bos = tokenizer.addsBosByDefault();
        List<Example> all = new ArrayList<>();
        List<int[]> owner = new ArrayList<>();  // (item, choice) of each example
        List<Integer> bytes = new ArrayList<>();
        for (int i = shots; i < items.size(); i++) {
            Item item = items.get(i);
            long[] context = tokenizer.encode(examples + prompt(item), bos, false);
            for (int c = 0; c < item.choices().size(); c++) {
                String continuation = " " + item.choices().get(c).strip();
                long[] answer = tokenizer.encode(continuation, false, false);
                if (answer.length == 0) answer = tokenizer.encode(" ", false, false);
                if (answer.length >= maxLength) throw new DataException("line " + item.line() + ": choice " + c + " is longer than " + maxLength + " tokens");
                long[] ctx = context.length + answer.length > maxLength
                        ? Arrays.copyOfRange(context, context.length + answer.length - maxLength, context.length) : context;
                long[] ids = Arrays.copyOf(ctx, ctx.length + answer.length);
                System.arraycopy(answer, 0, ids, ctx.length, answer.length);
                Examples.requireInVocabulary(null, item.line(), ids, model.config().vocabSize());
                boolean[] targets = new boolean[ids.length];
                for (int t = Math.max(1, ctx.length); t < ids.length; t++) targets[t] = true;
                all.add(new Example(ids, targets, item.line()));
                owner.add(new int[] {i, c});
                bytes.add(Math.max(1, continuation.getBytes(StandardCharsets.UTF_8).length));
            }
        }
        double[] logLikelihood = new double[all.size()];
        try (var noGrad = Torch.noGrad()) {
            for (int b = 0; b < all.size(); b += batchSize) {
                int end = Math.min(all.size(), b + batchSize);
                try (Scope scope = Scope.open()) {
                    Batch batch = Batch.of(all.subList(b, end), padId, model.device());
                    long length = batch.inputIds().size(1);
                    Tensor hidden = model.hidden(batch.inputIds(), batch.attentionMask());
                    double[] losses = targetLosses(model, hidden, batch);
                    long[] rows = batch.predictingRows().toLongArray();
                    for (int t = 0; t < rows.length; t++) logLikelihood[b + (int) (rows[t] / length)] -= losses[t];
                }
                if (progress != null) progress.itemsDone(owner.get(end - 1)[0] - shots + 1, items.size() - shots);
            }
        }
        int scored = items.size() - shots;
        int correct = 0;
        int correctNorm = 0;
        double chance = 0;
        int at = 0;
        for (int i = shots; i < items.size(); i++) {
            Item item = items.get(i);
            int n = item.choices().size();
            int best = 0;
            int bestNorm = 0;
            for (int c = 1; c < n; c++) {
                if (logLikelihood[at + c] > logLikelihood[at + best]) best = c;
                if (logLikelihood[at + c] / bytes.get(at + c) > logLikelihood[at + bestNorm] / bytes.get(at + bestNorm)) bestNorm = c;
            }
            at += n;
            if (best == item.answer()) correct++;
            if (bestNorm == item.answer()) correctNorm++;
            chance += 1.0 / item.choices().size();
        }
        return new Result(scored, shots, (double) correct / scored, (double) correctNorm / scored, chance / scored,
                (System.nanoTime() - start) / 1e9);
    }

    /** Cross-entropy of every target of the batch, in the order of its predicting rows (logits in chunks, float32). */
    private static double[] targetLosses(CausalLM model, Tensor hidden, Batch batch) {
        Tensor rows = hidden.reshape(-1, hidden.size(-1)).indexSelect(0, batch.predictingRows());
        long count = rows.size(0);
        double[] out = new double[(int) count];
        long chunk = Math.max(1, (16L << 20) / (4L * model.config().vocabSize()));
        for (long s = 0; s < count; s += chunk) {
            try (Scope scope = Scope.open()) {
                long n = Math.min(chunk, count - s);
                Tensor logits = model.head(rows.narrow(0, s, n));
                if (logits.dtype() != DType.FLOAT32 && logits.dtype() != DType.FLOAT64) logits = logits.to(DType.FLOAT32);
                double[] part = logits.crossEntropy(batch.predictedIds().narrow(0, s, n), Tensor.IGNORE_INDEX, Tensor.Reduction.NONE)
                        .to(DType.FLOAT64).toDoubleArray();
                System.arraycopy(part, 0, out, (int) s, (int) n);
            }
        }
        return out;
    }
}
