package adept.cli;

import static adept.testing.TinyModel.adept;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.io.checkpoint.Checkpoint;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.testing.TinyModel;
import adept.testing.TinyModel.Run;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalCommandTest {
    @TempDir
    static Path temp;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModel.write(temp.resolve("tiny"), Architecture.LLAMA, 5);
    }

    static JsonObject evalJson(Path data, String... extra) throws IOException {
        Path json = data.resolveSibling(data.getFileName() + ".result.json");
        String[] args = {"eval", "--model", model.toString(), "--data", data.toString(), "--json", json.toString()};
        String[] all = java.util.Arrays.copyOf(args, args.length + extra.length);
        System.arraycopy(extra, 0, all, args.length, extra.length);
        Run run = adept(all);
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("loss") && run.out().contains("perplexity") && run.out().contains("tokens/s"), run.out());
        try (var files = Files.list(json.getParent())) {
            assertFalse(files.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file is left");
        }
        return JsonParser.parseString(Files.readString(json)).getAsJsonObject().getAsJsonArray("results").get(0).getAsJsonObject();
    }

    /** CausalLM.loss (mean over targets) of one sequence; labels are ids with IGNORE where not a target. */
    static double referenceLoss(long[] ids, long[] labels) {
        try (CausalLM m = Checkpoint.load(model, DType.FLOAT32, Device.CPU); var noGrad = Torch.noGrad(); Scope scope = Scope.open()) {
            Tensor logits = m.forward(Tensor.of(ids, 1, ids.length), null);
            return CausalLM.loss(logits, Tensor.of(labels, 1, labels.length)).item();
        }
    }

    @Test
    void lossOfOneShortTextEqualsCausalLmLoss(@TempDir Path dir) throws IOException {
        String text = "the cat sat on the mat and the dog ran home";
        Path data = Files.writeString(dir.resolve("short.txt"), text + "\n");
        JsonObject result = evalJson(data);
        long[] ids = TinyModel.idsWithBos(text);
        double expected = referenceLoss(ids, ids);
        assertEquals(expected, result.get("loss").getAsDouble(), 1e-6);
        assertEquals(Math.exp(result.get("loss").getAsDouble()), result.get("perplexity").getAsDouble(), 1e-9);
        assertEquals(ids.length - 1, result.get("tokens").getAsLong());
        assertEquals(1, result.get("items").getAsLong());
    }

    @Test
    void batchingAndPaddingDoNotChangeTheLoss(@TempDir Path dir) throws IOException {
        String[] texts = {"the cat sat", "a big red house under the tree", "he saw it", "they ran to the small blue house and she was home"};
        StringBuilder jsonl = new StringBuilder();
        for (String t : texts) jsonl.append("{\"text\": \"").append(t).append("\"}\n");
        Path data = Files.writeString(dir.resolve("texts.jsonl"), jsonl.toString());
        JsonObject one = evalJson(data, "--batch-size", "1");
        JsonObject three = evalJson(data, "--batch-size", "3");
        // Independently: token-weighted mean = sum over texts of (mean loss x targets) / all targets.
        double sum = 0;
        long tokens = 0;
        for (String t : texts) {
            long[] ids = TinyModel.idsWithBos(t);
            sum += referenceLoss(ids, ids) * (ids.length - 1);
            tokens += ids.length - 1;
        }
        assertEquals(tokens, one.get("tokens").getAsLong());
        assertEquals(tokens, three.get("tokens").getAsLong());
        assertEquals(sum / tokens, one.get("loss").getAsDouble(), 1e-5);
        assertEquals(one.get("loss").getAsDouble(), three.get("loss").getAsDouble(), 1e-5);
        assertEquals(4, three.get("items").getAsLong());
    }

    @Test
    void instructionItemsCountOnlyAnswerTokens(@TempDir Path dir) throws IOException {
        Path data = dir.resolve("mixed.jsonl.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(data))) {
            out.write("""
                    {"instruction": "say hi", "output": "hello world"}

                    {"instruction": "what sat on the mat", "output": "the big cat sat on the mat ."}
                    {"text": "a dog ran"}
                    """.getBytes(StandardCharsets.UTF_8));
        }
        JsonObject result = evalJson(data);
        // Answers: 2 + 8 words; the text: 3 words after BOS.
        assertEquals(2 + 8 + 3, result.get("tokens").getAsLong());
        assertEquals(3, result.get("items").getAsLong());

        // The first item alone against CausalLM.loss with the prompt masked: <bos> User : say hi \n Assistant : | hello world
        Path single = Files.writeString(dir.resolve("single.jsonl"), "{\"instruction\": \"say hi\", \"output\": \"hello world\"}\n");
        long u = TinyModel.UNK, c = TinyModel.id(":");
        long[] ids = {TinyModel.BOS, u, c, TinyModel.id("say"), TinyModel.id("hi"), u, c, TinyModel.id("hello"), TinyModel.id("world")};
        long i = adept.tensor.Tensor.IGNORE_INDEX;
        long[] labels = {i, i, i, i, i, i, i, TinyModel.id("hello"), TinyModel.id("world")};
        JsonObject one = evalJson(single);
        assertEquals(2, one.get("tokens").getAsLong());
        assertEquals(referenceLoss(ids, labels), one.get("loss").getAsDouble(), 1e-6);
    }

    @Test
    void longTextIsSplitIntoWindows(@TempDir Path dir) throws IOException {
        StringBuilder text = new StringBuilder();
        for (int k = 0; k < 25; k++) text.append(TinyModel.WORDS.get(k % 20)).append(' ');
        Path data = Files.writeString(dir.resolve("long.txt"), text.toString());
        // 26 tokens with BOS in windows of 8: 8 + 8 + 8 + 2, the first token of each window predicted from nothing.
        JsonObject result = evalJson(data, "--max-length", "8", "--batch-size", "3");
        assertEquals(26 - 4, result.get("tokens").getAsLong());
        assertEquals(4, result.get("sequences").getAsLong());
        assertEquals(8, result.get("max_length").getAsLong());
        // The default window is min(max_position_embeddings, 1024) = 64: one window.
        assertEquals(25, evalJson(data).get("tokens").getAsLong());
    }

    @Test
    void cudaMatchesCpu(@TempDir Path dir) throws IOException {
        TinyModel.assumeCuda();
        Path data = Files.writeString(dir.resolve("cuda.jsonl"), """
                {"text": "the cat sat on the mat and the dog ran home"}
                {"instruction": "say hi", "output": "hello world"}
                {"text": "a big red house"}
                """);
        double cpu = evalJson(data, "--batch-size", "2").get("loss").getAsDouble();
        JsonObject cuda = evalJson(data, "--batch-size", "2", "--device", "cuda");
        assertEquals("cuda:0", cuda.get("device").getAsString());
        assertEquals(cpu, cuda.get("loss").getAsDouble(), 1e-4);
        assertEquals(cpu, evalJson(data, "--batch-size", "2", "--device", "cuda", "--dtype", "bfloat16").get("loss").getAsDouble(), 0.05);
    }

    @Test
    void badInputsAreCleanErrors(@TempDir Path dir) throws IOException {
        adept("eval", "--model", model.toString(), "--data", dir.resolve("absent.txt").toString()).assertUserError("absent.txt: no such file");

        Path malformed = Files.writeString(dir.resolve("bad.jsonl"), "{\"text\": \"the cat\"}\n{\"text\": \"the\n");
        adept("eval", "--model", model.toString(), "--data", malformed.toString()).assertUserError("bad.jsonl:2: malformed JSON");

        Path empty = Files.writeString(dir.resolve("empty.txt"), "\n  \n");
        adept("eval", "--model", model.toString(), "--data", empty.toString()).assertUserError("the corpus is empty");

        Path fine = Files.writeString(dir.resolve("fine.txt"), "the cat");
        adept("eval", "--model", model.toString(), "--data", fine.toString(), "--max-length", "65")
                .assertUsageError("exceeds the model's max_position_embeddings 64");
        adept("eval", "--model", model.toString(), "--data", fine.toString(), "--batch-size", "0").assertUsageError("--batch-size must be >= 1");
    }

    @Test
    void unwritableJsonIsACleanErrorNamingTheFile(@TempDir Path dir) throws IOException {
        Path fine = Files.writeString(dir.resolve("fine.txt"), "the cat");
        Path blocker = Files.writeString(dir.resolve("blocker"), "a file, not a folder");
        Path json = blocker.resolve("result.json");
        Run run = adept("eval", "--model", model.toString(), "--data", fine.toString(), "--json", json.toString());
        run.assertUserError("cannot write " + json + ": ");
        assertTrue(run.out().contains("perplexity"), "the results were printed before the JSON was written: " + run.out());
    }
}
