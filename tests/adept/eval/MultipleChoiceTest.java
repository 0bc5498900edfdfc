package adept.eval;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.testing.TinyModel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Multiple-choice accuracy against a plain loop: full logits of each (prompt + choice) sequence, log-softmax, summed by hand. */
class MultipleChoiceTest {
    @TempDir
    Path dir;

    static Path items(Path file, int n, long seed) throws Exception {
        Random r = new Random(seed);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String q = String.join(" ", TinyModel.WORDS.get(r.nextInt(40)), TinyModel.WORDS.get(r.nextInt(40)), "?");
            List<String> choices = new ArrayList<>();
            int k = 2 + r.nextInt(3);
            for (int c = 0; c < k; c++) {
                StringBuilder b = new StringBuilder(TinyModel.WORDS.get(r.nextInt(60)));
                for (int w = r.nextInt(3); w > 0; w--) b.append(' ').append(TinyModel.WORDS.get(r.nextInt(60)));
                choices.add("\"" + b + "\"");
            }
            lines.add("{\"question\": \"" + q + "\", \"choices\": [" + String.join(", ", choices) + "], \"answer\": " + r.nextInt(k) + "}");
        }
        return Files.write(file, lines, StandardCharsets.UTF_8);
    }

    /** Summed log p(choice | prompt) from one full forward pass. */
    static double logLikelihood(CausalLM model, long[] context, long[] answer) {
        long[] ids = Arrays.copyOf(context, context.length + answer.length);
        System.arraycopy(answer, 0, ids, context.length, answer.length);
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            Tensor logp = model.forward(Tensor.of(ids, 1, ids.length), null).logSoftmax(-1);
            double sum = 0;
            for (int t = context.length; t < ids.length; t++) sum += logp.getDouble(0, t - 1, ids[t]);
            return sum;
        }
    }

    @Test
    void accuracyEqualsAPlainLoop() throws Exception {
        Path model = TinyModel.write(dir.resolve("m"), 9);
        Path file = items(dir.resolve("mc.jsonl"), 30, 4);
        List<MultipleChoice.Item> items = MultipleChoice.read(file);
        for (int shots : new int[] {0, 2}) {
            try (CausalLM m = Checkpoint.load(model, DType.FLOAT32, Device.CPU); Tokenizer tok = Tokenizer.load(model)) {
                MultipleChoice.Result r = MultipleChoice.evaluate(m, tok, items, shots, 3, 64, 0, null);
                StringBuilder examples = new StringBuilder();
                for (int i = 0; i < shots; i++) {
                    examples.append(MultipleChoice.prompt(items.get(i))).append(' ').append(items.get(i).choices().get(items.get(i).answer())).append("\n\n");
                }
                int correct = 0;
                int correctNorm = 0;
                for (int i = shots; i < items.size(); i++) {
                    MultipleChoice.Item item = items.get(i);
                    long[] context = tok.encode(examples + MultipleChoice.prompt(item), true, false);
                    double bestLl = Double.NEGATIVE_INFINITY;
                    double bestNorm = Double.NEGATIVE_INFINITY;
                    int best = -1;
                    int bestN = -1;
                    for (int c = 0; c < item.choices().size(); c++) {
                        String continuation = " " + item.choices().get(c);
                        double ll = logLikelihood(m, context, tok.encode(continuation, false, false));
                        double norm = ll / continuation.getBytes(StandardCharsets.UTF_8).length;
                        if (ll > bestLl) { bestLl = ll; best = c; }
                        if (norm > bestNorm) { bestNorm = norm; bestN = c; }
                    }
                    if (best == item.answer()) correct++;
                    if (bestN == item.answer()) correctNorm++;
                }
                assertEquals(items.size() - shots, r.items());
                assertEquals((double) correct / r.items(), r.accuracy(), 1e-12, shots + "-shot accuracy");
                assertEquals((double) correctNorm / r.items(), r.accuracyNorm(), 1e-12, shots + "-shot accuracy_norm");
                assertTrue(r.chance() > 0.2 && r.chance() < 0.5);
            }
        }
    }

    @Test
    void badItemsNameTheLine() throws Exception {
        Path bad = Files.writeString(dir.resolve("bad.jsonl"), "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n"
                + "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 2}\n");
        var e = assertThrows(adept.io.data.DataException.class, () -> MultipleChoice.read(bad));
        assertTrue(e.getMessage().contains("bad.jsonl:2") && e.getMessage().contains("not an index"), e.getMessage());
        assertTrue(MultipleChoice.looksLikeMultipleChoice(bad));
        assertFalse(MultipleChoice.looksLikeMultipleChoice(Files.writeString(dir.resolve("t.jsonl"), "{\"text\": \"hi\"}\n")));
    }

    @Test
    void badInputThroughTheCommandIsOneLineAndWritesNothing() throws Exception {
        Path model = TinyModel.write(dir.resolve("m"), 3);
        Path json = dir.resolve("never.json");
        String[][] cases = {
                {"{\"question\": \"q\", \"choices\": [\"a\"], \"answer\": 0}\n{\"question\": \"q\", \"choices\": [\"a\", oops]}\n", "bad.jsonl:2: malformed JSON"},
                {"{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 5}\n", "bad.jsonl:1: \"answer\" 5 is not an index"},
                {"{\"question\": \"q\", \"choices\": [], \"answer\": 0}\n", "bad.jsonl:1: \"choices\" must be a non-empty list"},
        };
        for (String[] c : cases) {
            Path bad = Files.writeString(dir.resolve("bad.jsonl"), c[0]);
            TinyModel.adept("eval", "--model", model.toString(), "--data", bad.toString(), "--json", json.toString()).assertUserError(c[1]);
            assertFalse(Files.exists(json));
        }
        Path good = items(dir.resolve("good.jsonl"), 3, 1);
        TinyModel.adept("eval", "--model", dir.toString(), "--data", good.toString()).assertUserError("config.json");
        // a tokenizer whose ids exceed the model's vocabulary
        var eight = adept.nn.ModelConfig.builder(adept.nn.Architecture.QWEN3).vocabSize(8).hiddenSize(32).intermediateSize(48).numHiddenLayers(2)
                .numAttentionHeads(4).numKeyValueHeads(2).headDim(8).maxPositionEmbeddings(64).build();
        try (var m = adept.nn.CausalLM.random(eight, 1, 0.02, DType.FLOAT32, Device.CPU)) {
            adept.io.checkpoint.Checkpoint.save(m, dir.resolve("small8"));
        }
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(model.resolve(f), dir.resolve("small8").resolve(f));
        TinyModel.adept("eval", "--model", dir.resolve("small8").toString(), "--data", good.toString(), "--json", json.toString())
                .assertUserError("outside the model's vocabulary of 8");
        assertFalse(Files.exists(json));
    }

    @Test
    void severalModelsAndFilesInOneTable() throws Exception {
        Path a = TinyModel.write(dir.resolve("a"), 1);
        Path b = TinyModel.write(dir.resolve("b"), 2);
        Path mc = items(dir.resolve("mc.jsonl"), 8, 5);
        Path text = Files.writeString(dir.resolve("text.txt"), "the cat sat on the mat .\n");
        Path json = dir.resolve("out.json");
        Path md = dir.resolve("out.md");
        TinyModel.Run run = TinyModel.adept("eval", "--model", a.toString(), "--model", b.toString(), "--data", text.toString(), "--data", mc.toString(),
                "--json", json.toString(), "--markdown", md.toString());
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("text.txt loss (ppl)") && run.out().contains("mc.jsonl acc / acc_norm"), run.out());
        var results = com.google.gson.JsonParser.parseString(Files.readString(json)).getAsJsonObject().getAsJsonArray("results");
        assertEquals(4, results.size());
        String table = Files.readString(md);
        assertEquals(4, table.lines().count(), table);  // header, rule, two models
    }
}
