package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Training a model in memory on texts or token blocks follows the file-based run on the same data step for step, and writes nothing. */
class InMemoryTrainingTest {
    @TempDir
    Path dir;

    /** The "text" of each line of a JSON Lines corpus. */
    static List<String> texts(Path jsonl) throws Exception {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(jsonl, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) out.add(JsonParser.parseString(line).getAsJsonObject().get("text").getAsString());
        }
        return out;
    }

    /** Settings of a short run whose probe corpus is plain texts (the in-memory data takes texts). */
    private TrainSettings settings(String mode) throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, mode);
        Path probe = dir.resolve("probe-texts.jsonl");
        if (!Files.exists(probe)) {
            List<String> lines = new ArrayList<>();
            for (String t : List.of("the cat sat on the mat .", "a dog ran to the park and the dog was very good .",
                    "the sun is big and the moon is small .", "we went to the house with the red tree .", "she saw two dogs and one cat .",
                    "fire is red and water is blue .", "they ate food , and it was good !", "the sky was blue the water was green .")) {
                lines.add("{\"text\": \"" + t + "\"}");
            }
            Files.write(probe, lines, StandardCharsets.UTF_8);
        }
        return s.toBuilder().probe(probe).steps(12).refreshEvery(5).saveEvery(6L).evalEvery(4L).build();
    }

    private static List<JsonObject> lossLines(List<JsonObject> metrics) {
        return metrics.stream().filter(o -> o.has("loss") || o.has("eval_loss")).toList();
    }

    /** Collects the metrics lines a run reports. */
    private static final class Collect implements TrainListener {
        final List<JsonObject> lines = new ArrayList<>();

        @Override
        public void metrics(JsonObject line) {
            lines.add(line.deepCopy());
        }
    }

    private static void assertSameLosses(List<JsonObject> fromFile, List<JsonObject> inMemory) {
        assertEquals(fromFile.size(), inMemory.size(), "as many loss and eval lines");
        for (int i = 0; i < fromFile.size(); i++) {
            JsonObject a = fromFile.get(i);
            JsonObject b = inMemory.get(i);
            assertEquals(a.get("step").getAsLong(), b.get("step").getAsLong());
            for (String key : List.of("loss", "grad_norm", "lr", "rate_mean", "eval_loss")) {
                if (!a.has(key)) continue;
                assertEquals(a.get(key).getAsDouble(), b.get(key).getAsDouble(), 1e-6, key + " at step " + a.get("step"));
            }
        }
    }

    private List<Path> filesUnder(Path root) throws Exception {
        try (Stream<Path> all = Files.walk(root)) {
            return all.sorted().toList();
        }
    }

    private void sameAsFileRun(String mode) throws Exception {
        TrainSettings s = settings(mode);
        Trainer.Result fileRun = new Trainer(s).run();
        List<JsonObject> fromFile = lossLines(RunLog.read(s.output().out().resolve(RunFolder.METRICS_FILE)));
        assertTrue(fromFile.size() >= s.optimizer().steps(), "a loss line per step");

        List<Path> before = filesUnder(dir);
        Collect collect = new Collect();
        Trainer.Result r;
        try (Tokenizer tokenizer = Tokenizer.load(s.inputs().model());
             CausalLM model = Checkpoint.load(s.inputs().model(), DType.FLOAT32, Device.CPU)) {
            InMemoryData data = InMemoryData.texts(tokenizer, texts(s.inputs().data()))
                    .withProbe(texts(s.inputs().probe())).withEval(texts(s.inputs().eval()));
            r = new Trainer(s).listen(collect).train(model, data);
            try (CausalLM saved = Checkpoint.load(fileRun.model(), DType.FLOAT32, Device.CPU)) {
                assertEquals(saved.namedParameters().keySet(), model.namedParameters().keySet(), "the same model shape (expanded alike)");
                for (var e : saved.namedParameters().entrySet()) {
                    assertEquals(0.0, TrainerTest.maxDifference(e.getValue(), model.namedParameters().get(e.getKey())), 1e-6, e.getKey());
                }
            }
        }
        assertEquals(Trainer.Status.COMPLETED, r.status());
        assertNull(r.out(), "no folder");
        assertEquals(before, filesUnder(dir), "an in-memory run writes no file");
        assertSameLosses(fromFile, lossLines(collect.lines));
        assertEquals(fileRun.step(), r.step());
        assertEquals(fileRun.lastLoss(), r.lastLoss(), 1e-6);
        assertEquals(fileRun.evalLoss(), r.evalLoss(), 1e-6);
        assertEquals(fileRun.trainableParameters(), r.trainableParameters());
    }

    @Test
    void fullTrainingInMemoryFollowsTheFileRun() throws Exception {
        sameAsFileRun("full");
    }

    @Test
    void adeptInMemoryProbesExpandsAndFollowsTheFileRun() throws Exception {
        sameAsFileRun("adept");
    }

    @Test
    void tokenBlocksTrainAsTheTextsTheyCameFrom() throws Exception {
        TrainSettings s = settings("full").toBuilder().eval(null).build();
        Collect fromTexts = new Collect();
        Collect fromBlocks = new Collect();
        try (Tokenizer tokenizer = Tokenizer.load(s.inputs().model())) {
            InMemoryData texts = InMemoryData.texts(tokenizer, texts(s.inputs().data()));
            long[] stream = texts.tokens();
            int[][] blocks = new int[stream.length / s.inputs().blockSize()][s.inputs().blockSize()];
            for (int b = 0; b < blocks.length; b++) for (int i = 0; i < s.inputs().blockSize(); i++) blocks[b][i] = (int) stream[b * s.inputs().blockSize() + i];
            try (CausalLM model = Checkpoint.load(s.inputs().model(), DType.FLOAT32, Device.CPU)) {
                new Trainer(s).listen(fromTexts).train(model, texts);
            }
            try (CausalLM model = Checkpoint.load(s.inputs().model(), DType.FLOAT32, Device.CPU)) {
                new Trainer(s).listen(fromBlocks).train(model, InMemoryData.blocks(blocks));
            }
        }
        assertEquals(s.optimizer().steps(), lossLines(fromTexts.lines).size());
        assertSameLosses(fromTexts.lines, fromBlocks.lines);
    }

    @Test
    void badInMemoryDataIsOneLine() throws Exception {
        TrainSettings s = settings("full");
        adept.io.data.DataException uneven = assertThrows(adept.io.data.DataException.class,
                () -> InMemoryData.blocks(new int[][] {{1, 2, 3}, {4, 5}}));
        assertTrue(uneven.getMessage().contains("training block 1"), uneven.getMessage());
        try (CausalLM model = Checkpoint.load(s.inputs().model(), DType.FLOAT32, Device.CPU)) {
            int[][] outside = new int[4][s.inputs().blockSize()];
            outside[2][3] = 1_000_000;
            TrainException e = assertThrows(TrainException.class, () -> new Trainer(s).train(model, InMemoryData.blocks(outside)));
            assertTrue(e.getMessage().contains("token id 1000000"), e.getMessage());
        }
    }
}
