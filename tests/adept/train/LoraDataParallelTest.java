package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.parallel.Backend;
import adept.parallel.ProcessGroup;
import adept.io.checkpoint.PeftAdapters;
import adept.io.checkpoint.Safetensors;
import adept.tensor.Scope;
import adept.testing.ChildJvm;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mode lora data parallel: 2 ranks (adapters broadcast, their gradients all-reduced) follow one process over the doubled batch, in float64. */
class LoraDataParallelTest {
    @TempDir
    Path dir;

    @Test
    void loraInFloat64OnTwoRanksMatchesOnePassOverTheDoubledBatch() throws Exception {
        Assumptions.assumeTrue(ProcessGroup.available(Backend.GLOO), "the shim was built without Gloo");
        TrainSettings one = DataParallelTest.settings(dir, "lora", "one64-lora", 12).toBuilder().dtype(adept.tensor.DType.parse("float64")).build();
        assertEquals(Trainer.Status.COMPLETED, new Trainer(one).run().status());
        TrainSettings two = DataParallelTest.settings(dir, "lora", "two64-lora", 12).toBuilder().dtype(adept.tensor.DType.parse("float64")).build();
        ChildJvm.Outcome o = DataParallelTest.twoRanks(two, dir.resolve("two64-lora.log"));
        assertEquals(0, o.exitCode(), o.output());
        DataParallelTest.assertSameLosses(DataParallelTest.losses(one.output().out()), DataParallelTest.losses(two.output().out()), 1e-12,
                "lora float64 2 ranks x 2 vs 1 rank x 4");
        Safetensors a = Safetensors.open(Path.of(one.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE));
        Safetensors b = Safetensors.open(Path.of(two.output().out().toString(), "adapter", PeftAdapters.WEIGHTS_FILE));
        assertEquals(a.names(), b.names());
        double worst = 0;
        try (Scope scope = Scope.open()) {
            for (String n : a.names()) worst = Math.max(worst, a.tensor(n).sub(b.tensor(n)).abs().max().item());
        }
        System.out.printf("lora: float64, 2 ranks vs 1 rank over the doubled batch: max adapter difference %.3g%n", worst);
        assertTrue(worst <= 1e-9, "adapters: " + worst);
    }
}
