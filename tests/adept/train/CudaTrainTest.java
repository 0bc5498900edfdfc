package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.testing.TinyModel;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole stage-2 pipeline on cuda:0 (probe, expand, train, refresh, checkpoint, final model): float32 follows
 * the CPU run, bfloat16 (bf16 layers, fp32 master weights and moments, fp32 loss) stays close to it, and with
 * log_every the steps between read-backs read nothing from the device. Skipped without a GPU (the GPU check sets
 * ADEPT_REQUIRE_CUDA=1, which makes a missing one a failure).
 */
class CudaTrainTest {
    @TempDir
    Path dir;

    TrainSettings settings(String out, String device, String dtype) throws Exception {
        TrainSettings s = TrainFixtures.settings(dir, "adept").toBuilder().out(dir.resolve(out)).steps(12).device(adept.tensor.Device.parse(device)).dtype(adept.tensor.DType.parse(dtype)).saveEvery(6L).build();
        return s;
    }

    @Test
    void adeptModeOnCudaFollowsTheCpuRun() throws Exception {
        TinyModel.assumeCuda();
        TrainSettings cpu = settings("cpu", "cpu", "float32");
        new Trainer(cpu).run();
        TrainSettings gpu = settings("cuda", "cuda", "float32");
        Trainer.Result r = new Trainer(gpu).run();
        assertEquals(Trainer.Status.COMPLETED, r.status());
        List<Double> a = DataParallelTest.losses(cpu.output().out());
        List<Double> b = DataParallelTest.losses(gpu.output().out());
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) assertEquals(a.get(i), b.get(i), 1e-4, "float32 loss at step " + (i + 1));
        double worst = DataParallelTest.maxParameterDifference(cpu.output().out().resolve(RunFolder.MODEL_DIR), r.model());
        System.out.printf("cuda float32 vs cpu: max parameter difference %.3g after 12 steps%n", worst);
        assertTrue(worst < 1e-3, "parameters: " + worst);

        TrainSettings bf16 = settings("cuda-bf16", "cuda", "bfloat16");
        new Trainer(bf16).run();
        List<Double> c = DataParallelTest.losses(bf16.output().out());
        for (int i = 0; i < a.size(); i++) assertEquals(a.get(i), c.get(i), 0.05 * a.get(i), "bfloat16 loss at step " + (i + 1));
        try (CausalLM m = Checkpoint.load(bf16.output().out().resolve(RunFolder.MODEL_DIR), DType.FLOAT32, Device.CPU)) {
            assertTrue(m.namedParameters().values().stream().allMatch(t -> Double.isFinite(t.abs().max().item())), "finite weights");
        }
    }

    @Test
    void stepsBetweenReadBacksDoNotSyncTheDevice() throws Exception {
        TinyModel.assumeCuda();
        TrainSettings s = settings("quiet", "cuda", "bfloat16").toBuilder().logEvery(4).evalEvery(0L).refreshEvery(100).saveEvery(12L).build();
        List<Long> reads = HostRoundTripTest.readsPerStep(s);  // index k: step k + 2
        for (int k = 0; k < reads.size(); k++) {
            long step = k + 2;
            if (step % 4 != 0 && step != s.optimizer().steps()) assertEquals(0, reads.get(k), "step " + step + " read from the device: " + reads);
        }
    }
}
