package adept.eval;

import static org.junit.jupiter.api.Assertions.*;

import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.tensor.Tensor;
import adept.testing.TinyModel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Evaluation on models built to give a known next-token distribution: every layer adds nothing (o_proj and
 * down_proj zero), every token embeds to the same vector of ones and lm_head row v is c_v times ones, so
 * p(v | any context) = softmax(c * H / sqrt(1 + eps)) whatever came before. Loss, perplexity and the
 * multiple-choice scores then follow by hand.
 */
class HandMadeModelsTest {
    @TempDir
    Path dir;

    static final int HIDDEN = 32;
    static final double EPS = 1e-6;

    /** c_v per token id: a few words get distinct logits, everything else 0. */
    static double[] logitScales() {
        double[] c = new double[TinyModel.VOCAB];
        c[(int) TinyModel.id("the")] = Math.log(5) / (HIDDEN / Math.sqrt(1 + EPS));
        c[(int) TinyModel.id("sky")] = Math.log(3) / (HIDDEN / Math.sqrt(1 + EPS));
        c[(int) TinyModel.id("cat")] = Math.log(2) / (HIDDEN / Math.sqrt(1 + EPS));
        return c;
    }

    /** p(v) of the hand-made model, in double precision. */
    static double[] distribution() {
        double[] c = logitScales();
        double[] p = new double[c.length];
        double z = 0;
        for (int v = 0; v < c.length; v++) z += p[v] = Math.exp(c[v] * HIDDEN / Math.sqrt(1 + EPS));
        for (int v = 0; v < c.length; v++) p[v] /= z;
        return p;
    }

    Path model() throws Exception {
        return TinyModel.write(dir.resolve("known"), Architecture.LLAMA, 1, (CausalLM m) -> {
            Map<String, Tensor> p = m.namedParameters();
            for (var e : p.entrySet()) {
                if (e.getKey().endsWith("o_proj.weight") || e.getKey().endsWith("down_proj.weight")) e.getValue().zero();
            }
            p.get("model.embed_tokens.weight").fill(1);
            double[] c = logitScales();
            Tensor head = p.get("lm_head.weight");
            for (int v = 0; v < c.length; v++) head.select(0, v).fill(c[v]);
        });
    }

    @Test
    void perplexityOfAKnownDistribution() throws Exception {
        Path model = model();
        double[] p = distribution();
        // text: BOS the sky cat dog . -> targets the, sky, cat, dog, .
        String text = "the sky cat dog .";
        double expected = 0;
        String[] words = text.split(" ");
        for (String w : words) expected -= Math.log(p[(int) TinyModel.id(w)]);
        expected /= words.length;
        Path file = Files.writeString(dir.resolve("t.txt"), text + "\n");
        Path json = dir.resolve("r.json");
        TinyModel.Run run = TinyModel.adept("eval", "--model", model.toString(), "--data", file.toString(), "--json", json.toString());
        assertEquals(0, run.exit(), run.err());
        var r = com.google.gson.JsonParser.parseString(Files.readString(json)).getAsJsonObject().getAsJsonArray("results").get(0).getAsJsonObject();
        assertEquals(expected, r.get("loss").getAsDouble(), 1e-5);
        assertEquals(Math.exp(expected), r.get("perplexity").getAsDouble(), 1e-4);
        assertEquals(words.length, r.get("tokens").getAsLong());

        // an instruction item counts its answer only; padding (a short item batched with a long one) never counts
        Path mixed = Files.writeString(dir.resolve("m.jsonl"), "{\"instruction\": \"what is the sky ?\", \"output\": \"cat cat\"}\n"
                + "{\"text\": \"the the the the the the the the the\"}\n");
        double answer = -2 * Math.log(p[(int) TinyModel.id("cat")]);  // the answer " cat cat"
        double text2 = -9 * Math.log(p[(int) TinyModel.id("the")]);
        run = TinyModel.adept("eval", "--model", model.toString(), "--data", mixed.toString(), "--json", json.toString(), "--batch-size", "2");
        assertEquals(0, run.exit(), run.err());
        r = com.google.gson.JsonParser.parseString(Files.readString(json)).getAsJsonObject().getAsJsonArray("results").get(0).getAsJsonObject();
        assertEquals(11, r.get("tokens").getAsLong(), "2 answer tokens + 9 text tokens; prompt and padding do not count");
        assertEquals((answer + text2) / 11, r.get("loss").getAsDouble(), 1e-5);
    }

    @Test
    void multipleChoicePrefersWhatTheModelIsBuiltToPrefer() throws Exception {
        Path model = model();
        double[] p = distribution();
        // " sky" (ln p = ln 3/Z, 4 bytes) beats " the the" (2 ln 5/Z, 8 bytes) by the sum; by the byte the reverse
        double sky = Math.log(p[(int) TinyModel.id("sky")]);
        double theThe = 2 * Math.log(p[(int) TinyModel.id("the")]);
        assertTrue(sky > theThe && theThe / 8 > sky / 4, "the hand-made case separates the two scores");
        Path file = Files.writeString(dir.resolve("mc.jsonl"), String.join("\n",
                "{\"question\": \"what is it ?\", \"choices\": [\"dog\", \"cat\", \"sun\"], \"answer\": 1}",
                "{\"question\": \"what is it ?\", \"choices\": [\"the the\", \"sky\"], \"answer\": 1}",
                "{\"question\": \"what is it ?\", \"choices\": [\"sky\", \"the the\"], \"answer\": 1}") + "\n");
        List<MultipleChoice.Item> items = MultipleChoice.read(file);
        try (CausalLM m = adept.io.checkpoint.Checkpoint.load(model, adept.tensor.DType.FLOAT32, adept.tensor.Device.CPU);
             adept.io.tokenizer.Tokenizer tok = adept.io.tokenizer.Tokenizer.load(model)) {
            MultipleChoice.Result r = MultipleChoice.evaluate(m, tok, items, 0, 2, 64, 0, null);
            // item 1: cat by both; item 2: sky by the sum, "the the" by the byte; item 3 the mirror image
            assertEquals(2.0 / 3, r.accuracy(), 1e-12);
            assertEquals(2.0 / 3, r.accuracyNorm(), 1e-12);
            MultipleChoice.Result first = MultipleChoice.evaluate(m, tok, items.subList(0, 2), 0, 2, 64, 0, null);
            assertEquals(1.0, first.accuracy(), 1e-12, "sum: cat, then sky");
            assertEquals(0.5, first.accuracyNorm(), 1e-12, "per byte: cat, then the the");
        }
    }
}
