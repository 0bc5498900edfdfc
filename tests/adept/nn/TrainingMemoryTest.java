package adept.nn;

import static org.junit.jupiter.api.Assertions.*;

import adept.optim.AdamW;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.io.IOException;
import adept.testing.ProcessMemory;
import org.junit.jupiter.api.Test;

/** 1,000 training steps (forward, loss, backward, AdamW) keep native handles and resident memory flat. */
class TrainingMemoryTest {
    /** Steps before measuring: the JIT compiler mallocs for its first ~1,000 steps (seen: +11 MB, then flat for 5,000). */
    static final int WARM_UP = 1200;

    static ModelConfig tiny() {
        return new ModelConfig(Architecture.QWEN3, 64, 32, 48, 2, 4, 2, 8, 1e-6, 10000, null, 64, false, false, false);
    }


    @Test
    void thousandTrainingStepsKeepMemoryFlat() throws IOException {
        long liveAtStart = Torch.liveTensors();
        try (CausalLM model = CausalLM.random(tiny(), 1, 0.02, DType.FLOAT32, Device.CPU)) {
            model.requiresGrad(true);
            try (AdamW adam = AdamW.of(model.namedParameters().values().stream().toList(), 0.1)) {
                long liveWithModel = 0;
                double first = 0;
                double last = 0;
                long rssBefore = 0;
                long mallocBefore = 0;
                for (int step = 0; step < WARM_UP + 1000; step++) {
                    if (step == WARM_UP) {
                        System.gc();
                        rssBefore = ProcessMemory.residentKiB();
                        mallocBefore = ProcessMemory.mallocInUseBytes();
                        liveWithModel = Torch.liveTensors();  // model, optimizer state, rotary tables
                    }
                    try (Scope scope = Scope.open()) {
                        Tensor ids = Tensor.randint(1, 64, DType.INT64, Device.CPU, 2, 16);
                        Tensor mask = Tensor.ones(DType.INT64, Device.CPU, 2, 16);
                        Tensor loss = CausalLM.loss(model.forward(ids, mask), CausalLM.labels(ids, mask));
                        loss.backward();
                        adam.step(1e-3);
                        adam.zeroGrad();
                        last = loss.item();
                        if (step == 0) first = last;
                    }
                }
                System.gc();
                long growth = ProcessMemory.residentKiB() - rssBefore;
                long mallocGrowth = ProcessMemory.mallocInUseBytes() - mallocBefore;
                System.out.printf("TrainingMemoryTest: loss %.3f -> %.3f over 1000 steps: RSS %+d KiB, native heap in use %+d bytes%n",
                        first, last, growth, mallocGrowth);
                // The JVM mallocs too (JIT, GC): a few MB of noise; a per-step leak of one small tensor would exceed it.
                assertTrue(mallocGrowth < 4 * 1024 * 1024, "native heap in use grew by " + mallocGrowth + " bytes");
                assertEquals(liveWithModel, Torch.liveTensors(), "every step's tensors are freed");
                assertTrue(growth < 8 * 1024, "resident memory grew by " + growth + " KiB over 1000 steps");
            }
        }
        assertEquals(liveAtStart, Torch.liveTensors(), "closing the model and optimizer frees everything");
    }
}
