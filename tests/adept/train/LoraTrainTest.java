package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.expand.LayerExpansion;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.PeftAdapters;
import adept.io.checkpoint.Safetensors;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.testing.TinyModel;
import adept.tune.LoraAdapters;
import adept.tune.LoraSpec;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mode lora in the trainer: the rank matched to adept's trainable count, only adapters trained, the final model a plain
 * merged Hugging Face folder other commands read, the adapters in PEFT's layout, exact resume (also after SIGKILL,
 * with dropout, whose masks depend on the restored RNG), and bad input as one-line errors before any work.
 */
class LoraTrainTest {
    @TempDir
    Path dir;

    static TrainSettings settings(Path dir, String out) throws Exception {
        return TrainFixtures.settings(dir, "lora").toBuilder().out(dir.resolve(out)).probe(null).lr(1e-2).build();
    }

    @Test
    void matchesAdeptsCountTrainsOnlyAdaptersAndSavesMergedModelAndPeftAdapters() throws Exception {
        TrainSettings s = settings(dir, "lora");
        List<String> lines = new ArrayList<>();
        Trainer.Result r = new Trainer(s).listen(new TrainListener() {
            @Override
            public void info(String line) {
                lines.add(line);
            }
        }).run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        ModelConfig config = Checkpoint.open(s.inputs().model()).config().modelConfig();
        long adept = 2L * LayerExpansion.layerParameters(config);  // k = 2 copies
        long perRank = LoraAdapters.parametersPerRank(config, LoraAdapters.TARGETS);
        int rank = LoraAdapters.matchRank(adept, config, LoraAdapters.TARGETS, "adept");
        assertTrue(Math.abs(rank * perRank - adept) <= perRank / 2, "the closest rank: " + rank);
        assertEquals(rank * perRank, r.trainableParameters());
        assertEquals(config.parameterCount() + rank * perRank, r.totalParameters());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("mode lora: LoRA r=" + rank + ", alpha " + 2 * rank)), String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("trainable: ") && l.contains("%")), String.join("\n", lines));
        JsonObject summary = JsonParser.parseString(Files.readString(Path.of(s.output().out().toString(), "summary.json"))).getAsJsonObject();
        assertEquals(rank * perRank, summary.get("trainable_parameters").getAsLong());
        assertEquals("lora", summary.get("mode").getAsString());

        // the adapters alone, PEFT layout
        Path adapter = Path.of(s.output().out().toString(), LoraMode.ADAPTER_DIR);
        JsonObject peft = JsonParser.parseString(Files.readString(adapter.resolve("adapter_config.json"))).getAsJsonObject();
        assertEquals("LORA", peft.get("peft_type").getAsString());
        assertEquals("CAUSAL_LM", peft.get("task_type").getAsString());
        assertEquals(rank, peft.get("r").getAsInt());
        assertEquals(2 * rank, peft.get("lora_alpha").getAsInt());
        assertEquals(0.0, peft.get("lora_dropout").getAsDouble());
        assertEquals(7, peft.getAsJsonArray("target_modules").size());
        Safetensors weights = Safetensors.open(adapter.resolve("adapter_model.safetensors"));
        assertEquals(config.numHiddenLayers() * 7 * 2, weights.names().size());
        assertArrayEquals(new long[] {rank, 32}, weights.entry("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape());
        assertArrayEquals(new long[] {16, rank}, weights.entry("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight").shape());
        assertArrayEquals(new long[] {32, rank}, weights.entry("base_model.model.model.layers.3.mlp.down_proj.lora_B.weight").shape());
        assertArrayEquals(new long[] {rank, 48}, weights.entry("base_model.model.model.layers.3.mlp.down_proj.lora_A.weight").shape());

        // the merged model: a plain model whose logits are the base model's plus the adapters'
        Path merged = Path.of(s.output().out().toString(), RunFolder.MODEL_DIR);
        long[] ids = TinyModel.idsWithBos("one plus two equals three . the cat sat on the mat");
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad();
             CausalLM plain = Checkpoint.load(merged, DType.FLOAT32, Device.CPU);
             CausalLM base = Checkpoint.load(s.inputs().model(), DType.FLOAT32, Device.CPU)) {
            Tensor input = Tensor.of(ids, 1, ids.length);
            Tensor baseLogits = base.forward(input, null);
            Map<String, Tensor> tensors = PeftAdapters.readTensors(adapter);
            PeftAdapters.Config pc = PeftAdapters.readConfig(adapter);
            LoraAdapters.attach(base, new LoraSpec(pc.rank(), pc.alpha(), pc.dropout(), pc.targetModules()), tensors);
            for (var e : base.adapterParameters().entrySet()) {
                if (e.getKey().endsWith("lora_B.weight")) assertTrue(e.getValue().abs().max().item() > 0, "B trained: " + e.getKey());
            }
            Tensor adapted = base.forward(input, null);
            double mergedDiff = plain.forward(input, null).sub(adapted).abs().max().item();
            double moved = adapted.sub(baseLogits).abs().max().item();
            System.out.printf(java.util.Locale.ROOT, "lora: merged vs base + adapters, max |logit diff| %.3e (the adapters move logits by %.3e)%n", mergedDiff, moved);
            assertTrue(mergedDiff <= 1e-5, "merged vs base + adapters: " + mergedDiff);
            assertTrue(moved > 1e-3, "training moved the model: " + moved);
            // tensors LoRA does not adapt are the base's, bit for bit
            Map<String, Tensor> plainParameters = plain.namedParameters();
            for (String name : List.of("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "model.layers.2.input_layernorm.weight")) {
                assertEquals(0.0, plainParameters.get(name).sub(base.namedParameters().get(name)).abs().max().item(), name);
            }
        }
        // other commands read it
        TinyModel.Run e = TinyModel.adept("eval", "--model", merged.toString(), "--data", s.inputs().eval().toString());
        assertEquals(0, e.exit(), e.err());
    }

    @Test
    void stoppedAndResumedGivesTheSameLossesAndAdapters() throws Exception {
        TrainSettings reference = settings(dir, "uninterrupted").toBuilder().loraDropout(0.1).loraRank(3).build();  // masks drawn from the RNG: resume must restore it
        new Trainer(reference).run();

        TrainSettings stopped = settings(dir, "stopped").toBuilder().loraDropout(0.1).loraRank(3).build();
        AtomicBoolean stop = new AtomicBoolean();
        Trainer.Result first = new Trainer(stopped).listen(new TrainListener() {
            @Override
            public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
                if (step == 13) stop.set(true);
            }
        }).stopWhen(stop).run();
        assertEquals(Trainer.Status.INTERRUPTED, first.status());
        assertEquals(13, first.step());
        assertTrue(Files.isRegularFile(Path.of(stopped.output().out().toString(), "checkpoints/step-00000013", PeftAdapters.WEIGHTS_FILE)));
        Trainer.Result second = new Trainer(stopped).run();
        assertEquals(Trainer.Status.COMPLETED, second.status());
        assertEquals(ResumeTest.losses(reference.output().out()), ResumeTest.losses(stopped.output().out()));
        assertArrayEquals(Files.readAllBytes(Path.of(reference.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE)),
                Files.readAllBytes(Path.of(stopped.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE)), "the same adapters, bit for bit");
        assertArrayEquals(Files.readAllBytes(Path.of(reference.output().out().toString(), "model", "model.safetensors")),
                Files.readAllBytes(Path.of(stopped.output().out().toString(), "model", "model.safetensors")), "the same merged model, bit for bit");
    }

    @Test
    void killedWithSigkillAndResumedGivesTheSameLosses() throws Exception {
        TrainSettings reference = settings(dir, "uninterrupted").toBuilder().steps(50).saveEvery(5L).keepCheckpoints(3).loraDropout(0.1).build();
        new Trainer(reference).run();
        List<Double> expected = ResumeTest.losses(reference.output().out());
        assertEquals(50, expected.size());

        TrainSettings killed = settings(dir, "killed").toBuilder().steps(50).build();
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx512m",
                "-Dadept.native.dir=" + System.getProperty("adept.native.dir"), "-cp", adept.testing.ChildJvm.classPath(),
                "adept.cli.AdeptCommand", "train", "--model", killed.inputs().model().toString(), "--data", killed.inputs().data().toString(), "--eval", killed.inputs().eval().toString(), "--out", killed.output().out().toString(),
                "--mode", "lora", "--k", "2", "--steps", "50", "--block-size", "16", "--batch-size", "4", "--lr", "1e-2",
                "--save-every", "5", "--eval-every", "10", "--keep-checkpoints", "3", "--lora-dropout", "0.1", "--refresh-every", "10",
                "--probe-batch-size", "4"));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile()).start();
        Path checkpoints = killed.output().out().resolve("checkpoints");
        int killAfter = 10 + new Random().nextInt(25);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (p.isAlive() && ResumeTest.newestStep(checkpoints) < killAfter && System.nanoTime() < deadline) Thread.sleep(10);
        Thread.sleep(new Random().nextInt(30));
        assertTrue(p.isAlive(), "the child is still training when killed: " + Files.readString(dir.resolve("child.log")));
        p.destroyForcibly();  // SIGKILL
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        long resumedFrom = ResumeTest.newestStep(checkpoints);
        assertFalse(Files.exists(killed.output().out().resolve(RunFolder.MODEL_DIR)), "the killed run did not finish");

        killed = killed.toBuilder().loraDropout(0.1).build();
        Trainer.Result r = new Trainer(killed).run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        List<Double> actual = ResumeTest.losses(killed.output().out());
        assertEquals(expected.size(), actual.size(), "one loss per step, no step logged twice");
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i), actual.get(i), "loss at step " + (i + 1) + " (killed near step " + resumedFrom + ")");
        }
        assertArrayEquals(Files.readAllBytes(Path.of(reference.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE)),
                Files.readAllBytes(Path.of(killed.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE)), "the same adapters, bit for bit");
    }

    @Test
    void activationCheckpointingChangesNothingButMemory() throws Exception {
        TrainSettings plain = settings(dir, "plain").toBuilder().steps(8).build();
        new Trainer(plain).run();
        TrainSettings segmented = settings(dir, "segmented").toBuilder().steps(8).gradCheckpointing(2).build();
        new Trainer(segmented).run();
        assertEquals(ResumeTest.losses(plain.output().out()), ResumeTest.losses(segmented.output().out()));
        assertArrayEquals(Files.readAllBytes(Path.of(plain.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE)),
                Files.readAllBytes(Path.of(segmented.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE)));
    }

    @Test
    void bfloat16TrainsStopsAndResumes() throws Exception {
        TrainSettings s = settings(dir, "bf16").toBuilder().dtype(adept.tensor.DType.parse("bfloat16")).steps(8).build();
        AtomicBoolean stop = new AtomicBoolean();
        Trainer.Result first = new Trainer(s).listen(new TrainListener() {
            @Override
            public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
                if (step == 3) stop.set(true);
            }
        }).stopWhen(stop).run();
        assertEquals(Trainer.Status.INTERRUPTED, first.status());
        Trainer.Result second = new Trainer(s).run();
        assertEquals(Trainer.Status.COMPLETED, second.status());
        assertEquals("BF16", Safetensors.dtypeName(Safetensors.open(Path.of(s.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE))
                .entry("base_model.model.model.layers.0.mlp.up_proj.lora_B.weight").dtype()));
        assertTrue(Double.isFinite(second.lastLoss()));
    }

    @Test
    void resumingOnAChangedBaseModelIsRefused() throws Exception {
        TrainSettings s = settings(dir, "changed").toBuilder().loraRank(2).build();
        AtomicBoolean stop = new AtomicBoolean(true);
        assertEquals(Trainer.Status.INTERRUPTED, new Trainer(s).stopWhen(stop).run().status());
        TinyModel.write(s.inputs().model(), 6);  // another base in the same folder
        TrainException e = assertThrows(TrainException.class, () -> new Trainer(s).run());
        assertTrue(e.getMessage().contains("changed since this run started"), e.getMessage());
    }

    @Test
    void badInputIsAOneLineErrorBeforeAnyWork() throws Exception {
        TrainSettings s = settings(dir, "unused");
        Path out = dir.resolve("bad");
        List<String> base = List.of("train", "--model", s.inputs().model().toString(), "--data", s.inputs().data().toString(), "--out", out.toString(), "--mode", "lora", "--steps", "5",
                "--block-size", "16", "--batch-size", "2");
        String[][] cases = {
            {"--lora-rank", "0"}, {"lora_rank must be > 0, got 0"},
            {"--lora-rank", "-3"}, {"lora_rank must be > 0, got -3"},
            {"--lora-targets", "q_proj,qkv_proj"}, {"lora_targets: unknown projection \"qkv_proj\""},
            {"--lora-match", "10"}, {"lora_match: the given count, 10 parameters, is less than half of what rank 1 adapters take on this model (1,856): nothing to match"},
            {"--lora-match", "many"}, {"lora_match must be adept or a parameter count"},
            {"--lora-rank", "4", "--lora-match", "adept"}, {"give lora_rank or lora_match, not both"},
            {"--lora-dropout", "1"}, {"lora_dropout must be in [0, 1)"},
            {"--lora-alpha", "0"}, {"lora_alpha must be > 0"},
            {"--lora-dropout", "0.1", "--grad-checkpointing", "1"}, {"lora_dropout > 0 does not combine with grad_checkpointing"},
            {"--k", "9"}, {"k: 9 exceeds the model's 4 layers"},
        };
        for (int i = 0; i < cases.length; i += 2) {
            List<String> a = new ArrayList<>(base);
            a.addAll(Arrays.asList(cases[i]));
            TinyModel.adept(a.toArray(String[]::new)).assertUserError(cases[i + 1][0]);
            assertFalse(Files.exists(out), "nothing written for " + Arrays.toString(cases[i]));
            assertFalse(Files.exists(dir.resolve(".adept-tokens")), "not even the token cache, for " + Arrays.toString(cases[i]));
        }
    }
}
