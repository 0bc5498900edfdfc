package adept.tune;

import adept.expand.LayerExpansion;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Tensor;
import adept.testing.TinyModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** A tiny random Qwen3 (4 layers) expanded by copies of layers 1 and 3 (new layers 2 and 5), and random batches. */
final class Stage2Fixture {
    private Stage2Fixture() {}

    record Expanded(CausalLM model, List<String> trainable) {}

    static Expanded expanded(DType dtype, long seed) {
        CausalLM model = CausalLM.random(TinyModel.config(), seed, 0.1, dtype, Device.CPU);
        List<String> trainable = LayerExpansion.apply(model, LayerExpansion.explicit(TinyModel.LAYERS, List.of(1, 3)));
        return new Expanded(model, trainable);
    }

    /** A right-padded probe batch of rows of random lengths in [4, maxLength] (BOS first, every later token a target). */
    static Batch probeBatch(Random random, int rows, int maxLength) {
        List<Example> examples = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            int length = 4 + random.nextInt(maxLength - 3);
            long[] ids = new long[length];
            boolean[] targets = new boolean[length];
            ids[0] = TinyModel.BOS;
            for (int t = 1; t < length; t++) {
                ids[t] = 4 + random.nextInt(TinyModel.VOCAB - 4);
                targets[t] = true;
            }
            examples.add(new Example(ids, targets, r + 1));
        }
        return Batch.of(examples, TinyModel.PAD, Device.CPU);
    }

    /** A packed training block batch [rows, length] of random word ids. */
    static Tensor block(Random random, int rows, int length) {
        long[] ids = new long[rows * length];
        for (int i = 0; i < ids.length; i++) ids[i] = 4 + random.nextInt(TinyModel.VOCAB - 4);
        return Tensor.of(ids, rows, length);
    }
}
