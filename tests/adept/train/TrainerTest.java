package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The trainer end to end on a tiny model: what is frozen stays bit-identical, outputs load, logs and plots exist. */
class TrainerTest {
    @TempDir
    Path dir;

    static double maxDifference(Tensor a, Tensor b) {
        try (Scope scope = Scope.open()) {
            return a.to(DType.FLOAT64).sub(b.to(DType.FLOAT64)).abs().max().item();
        }
    }

    @Test
    void adeptProbesExpandsAndKeepsFrozenTensorsBitIdentical() throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "adept").toBuilder().steps(100).saveEvery(50L).build();
        Trainer.Result r = new Trainer(s).run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        Path out = s.output().out();
        for (String f : List.of("run.json", "metrics.jsonl", "importance.jsonl", "summary.json")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f + " written");
        }
        assertFalse(Files.exists(out.resolve("loss.png")), "plots are a listener of the commands (adept.report), not the library's");
        Checkpoint trained = Checkpoint.open(r.model());
        ExpansionMetadata meta = ExpansionMetadata.from(trained.metadata(), "trained").orElseThrow();
        assertEquals(2, meta.k());
        assertEquals(adept.AdeptVersion.current(), meta.adeptVersion(), "the version is the library's, not the caller's to invent");
        assertEquals(s.inputs().model().toAbsolutePath().normalize().toString(), meta.baseModel());
        assertEquals(s.inputs().probe().toString(), meta.scoresFile(), "the probe corpus the layers were scored on");
        assertEquals(meta, ExpansionMetadata.parse(Files.readString(r.model().resolve(ExpansionMetadata.FILE_NAME)), "sidecar"));
        try (CausalLM base = Checkpoint.load(s.inputs().model(), DType.FLOAT32, Device.CPU);
             CausalLM after = trained.loadModel(DType.FLOAT32, Device.CPU)) {
            Map<String, Tensor> b = base.namedParameters();
            Map<String, Tensor> a = after.namedParameters();
            int[] source = meta.sourceOfEachLayer();
            int moved = 0;
            for (var e : a.entrySet()) {
                String name = e.getKey();
                int layer = adept.tune.UnitMap.layerOf(name);
                if (meta.trainable().contains(name)) {
                    try (Scope scope = Scope.open()) {  // baseOf may make a zero tensor
                        if (maxDifference(e.getValue(), baseOf(b, name, source)) > 0) moved++;
                    }
                    continue;
                }
                String original = layer < 0 ? name : name.replace(ModelConfig.layerPrefix(layer), ModelConfig.layerPrefix(source[layer]));
                assertEquals(0.0, maxDifference(e.getValue(), b.get(original)), name + " is frozen: bit-identical to the base model");
            }
            assertEquals(meta.trainable().size(), moved, "every trainable tensor of the copies moved");
        }
        List<com.google.gson.JsonObject> importance = RunLog.read(out.resolve("importance.jsonl"));
        assertTrue(importance.stream().filter(o -> o.get("step").getAsLong() == 0).allMatch(o -> o.get("importance").getAsDouble() == 0.0),
                "importance right after expansion is exactly 0");
        assertTrue(importance.stream().anyMatch(o -> o.get("step").getAsLong() == 90 && o.get("importance").getAsDouble() > 0));
    }

    @Test
    void memorySettingsChangeNothingButMemory() throws Exception {
        TrainSettings plain = TrainFixtures.settings(dir, "adept").toBuilder().steps(12).gradAccum(2).out(dir.resolve("plain")).build();
        TrainSettings lean = plain.toBuilder().out(dir.resolve("lean")).probeCacheMemory("1KiB").gradCheckpointing(1).build();  // below one layer input: checkpoints every 2 of the 4 layers
        assertEquals(List.of(), lean.differences(plain), "a run may resume with other memory settings");
        List<String> lines = new java.util.ArrayList<>();
        TrainListener listener = new TrainListener() {
            @Override
            public void info(String line) {
                lines.add(line);
            }
        };
        Trainer.Result a = new Trainer(plain).run();
        Trainer.Result b = new Trainer(lean).listen(listener).run();
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("probe cache bounded: 4 layer inputs") && l.contains("checkpoints every 2 layers")),
                String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("activation checkpointing: layers ")), String.join("\n", lines));
        List<com.google.gson.JsonObject> ma = RunLog.read(plain.output().out().resolve(RunFolder.METRICS_FILE));
        List<com.google.gson.JsonObject> mb = RunLog.read(lean.output().out().resolve(RunFolder.METRICS_FILE));
        assertEquals(ma.size(), mb.size());
        for (int i = 0; i < ma.size(); i++) {
            for (String key : List.of("loss", "grad_norm", "eval_loss")) {
                if (ma.get(i).has(key)) assertEquals(ma.get(i).get(key).getAsDouble(), mb.get(i).get(key).getAsDouble(), 0.0, key + " of line " + i);
            }
        }
        try (CausalLM x = Checkpoint.load(a.model(), DType.FLOAT32, Device.CPU); CausalLM y = Checkpoint.load(b.model(), DType.FLOAT32, Device.CPU)) {
            for (var e : x.namedParameters().entrySet()) {
                assertEquals(0.0, maxDifference(e.getValue(), y.namedParameters().get(e.getKey())), e.getKey());
            }
        }
        TrainSettingsBuilder bad = plain.toBuilder().probeCacheMemory("4 gigs");
        assertEquals("probe_cache_memory: expected a size such as 4GiB or 512MiB, got '4 gigs'", assertThrows(TrainException.class, bad::build).getMessage());
        bad = plain.toBuilder().gradCheckpointing(-1);
        assertTrue(assertThrows(TrainException.class, bad::build).getMessage().startsWith("grad_checkpointing must be >= 0"));
    }

    /** The trained copy's tensor in the base model: its source layer's tensor, or zero for o_proj / down_proj. */
    private static Tensor baseOf(Map<String, Tensor> base, String name, int[] source) {
        int layer = adept.tune.UnitMap.layerOf(name);
        Tensor t = base.get(name.replace(ModelConfig.layerPrefix(layer), ModelConfig.layerPrefix(source[layer])));
        return name.contains("o_proj") || name.contains("down_proj") ? t.mul(0) : t;
    }

    @Test
    void fullModeMovesEveryTensor() throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "full").toBuilder().k(null).steps(10).build();
        Trainer.Result r = new Trainer(s).run();
        assertEquals(1.0, r.trainableFraction(), 1e-12);
        try (CausalLM base = Checkpoint.load(s.inputs().model(), DType.FLOAT32, Device.CPU);
             CausalLM after = Checkpoint.load(r.model(), DType.FLOAT32, Device.CPU)) {
            for (var e : after.namedParameters().entrySet()) {
                assertTrue(maxDifference(e.getValue(), base.namedParameters().get(e.getKey())) > 0, e.getKey() + " moved");
            }
        }
    }

    @Test
    void theRunSeedsLibtorchsGeneratorSoItsCheckpointsRepeat() throws Exception {
        // libtorch's default generator starts from a random seed, and a library user may draw from it before a run:
        // the run's seed, not that history, decides the generator state a checkpoint saves (rng.cpu)
        byte[][] optimizer = new byte[2][];
        for (int i = 0; i < 2; i++) {
            try (Scope scope = Scope.open()) {
                assertEquals(1000L * (i + 1), Tensor.randn(1000 * (i + 1)).numel());
            }
            TrainSettings s = TrainFixtures.settings(dir, "full").toBuilder().k(null).steps(2).saveEvery(2L).out(dir.resolve("run" + i)).build();
            Trainer.Result r = new Trainer(s).run();
            assertEquals(Trainer.Status.COMPLETED, r.status());
            optimizer[i] = Files.readAllBytes(s.output().out().resolve("checkpoints").resolve(RunCheckpoints.name(2)).resolve(RunCheckpoints.OPTIMIZER_FILE));
        }
        assertArrayEquals(optimizer[0], optimizer[1], "two runs of the same settings save the same optimizer.bin");
    }

    @Test
    void aNonFiniteLossStopsTheRunNamingTheStepAndKeepsTheLastGoodCheckpoint() throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "full").toBuilder().k(null).steps(40).saveEvery(2L).lr(1e20).warmupSteps(1L).build();  // the first real update blows the weights up
        TrainException e = assertThrows(TrainException.class, () -> new Trainer(s).run());
        assertTrue(e.getMessage().matches("step \\d+: the (loss|gradient norm) is (NaN|Infinity|-Infinity); training stopped\\..*"), e.getMessage());
        List<Path> kept = new RunCheckpoints(s.output().out()).list();
        assertTrue(e.getMessage().contains(kept.isEmpty() ? "No checkpoint" : kept.get(0).toString()), e.getMessage());
        assertFalse(Files.exists(s.output().out().resolve(RunFolder.MODEL_DIR)), "no final model from a diverged run");
    }

    @Test
    void aShortLibraryRunCheckpointsAndEvaluatesOnlyAtTheEnd() throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "full").toBuilder().k(null).steps(10).saveEvery(null).evalEvery(null).build();
        Trainer.Result r = new Trainer(s).run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        List<Path> kept = new RunCheckpoints(s.output().out()).list();
        assertEquals(1, kept.size(), "one checkpoint, the last step's: " + kept);
        assertTrue(kept.get(0).getFileName().toString().endsWith("10"), kept.toString());
        long evaluations = RunLog.read(s.output().out().resolve(RunFolder.METRICS_FILE)).stream().filter(o -> o.has("eval_loss")).count();
        assertEquals(1, evaluations, "held-out loss once, at the end");
        assertTrue(Double.isFinite(r.evalLoss()));
    }

    @Test
    void baselinesRun() throws Exception {
        for (String mode : List.of("llama-pro", "adept-no-stage1", "adept-no-stage2")) {
            TrainSettings s = TrainFixtures.settings(dir, mode).toBuilder().steps(12).build();
            Trainer.Result r = new Trainer(s).run();
            assertEquals(Trainer.Status.COMPLETED, r.status(), mode);
            assertTrue(r.trainableFraction() > 0 && r.trainableFraction() < 1, mode + " trains part of the model");
            assertTrue(Double.isFinite(r.evalLoss()), mode + " held-out loss");
            boolean logsImportance = Files.exists(s.output().out().resolve("importance.jsonl"))
                    && !RunLog.read(s.output().out().resolve("importance.jsonl")).isEmpty();
            assertEquals(mode.equals("adept-no-stage1"), logsImportance, mode + ": only adaptive modes refresh importance");
        }
    }
}
