package adept.cli;

import adept.io.checkpoint.Checkpoint;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every command that loads a model shares: where it is, which device, which dtype. */
public final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")
    Path model;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--dtype", defaultValue = "float32", description = "compute dtype: float32, bfloat16, float16 (default: ${DEFAULT-VALUE})")
    String dtype;

    public Device device() {
        return Device.parse(device);
    }

    public DType dtype() {
        return DType.parse(dtype);
    }

    public CausalLM load() {
        return Checkpoint.load(model, dtype(), device());
    }
}
