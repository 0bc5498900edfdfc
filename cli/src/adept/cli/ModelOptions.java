package adept.cli;

import adept.io.checkpoint.Checkpoint;
import adept.nn.CausalLM;
import adept.tensor.DType;
import adept.tensor.Device;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options every command that loads a model shares: where it is, which device, which dtype. */
public final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")
    Path model;

    @Mixin
    DeviceOption device;

    @Mixin
    ComputeDTypeOption dtype;

    public Device device() {
        return device.device();
    }

    public DType dtype() {
        return dtype.dtype();
    }

    public CausalLM load() {
        DType d = dtype();
        Device dev = device();
        requireComputable(d, dev, "--dtype");
        return Checkpoint.load(model, d, dev);
    }

    /**
     * Refuses, as one line naming the option, a compute dtype that this libtorch cannot run on device (float16 on
     * the CPU with an older libtorch: "addmm_impl_cpu_" not implemented for 'Half'), before a model is loaded: runs
     * the ops a forward pass needs on a 2x2 tensor.
     */
    static void requireComputable(DType dtype, Device device, String option) {
        if (dtype != DType.FLOAT16 && dtype != DType.BFLOAT16) return;  // float32 and float64 run everywhere
        adept.tensor.Torch.init();  // libtorch's own set-up errors are not about the dtype
        try (adept.tensor.Scope scope = adept.tensor.Scope.open()) {
            adept.tensor.Tensor x = adept.tensor.Tensor.ones(DType.FLOAT32, Device.CPU, 2, 2).to(dtype, device);
            x.matmul(x).silu().mul(x.pow(2.0).mean(new long[] {1}, true).add(1e-6).rsqrt()).softmax(1).logSoftmax(1);
            adept.tensor.Tensor.scaledDotProductAttention(x.reshape(1, 1, 2, 2), x.reshape(1, 1, 2, 2), x.reshape(1, 1, 2, 2), null, true, 0.5);
        } catch (adept.tensor.TorchException e) {
            throw new adept.tensor.TorchException(option + " " + dtype.toString().toLowerCase(java.util.Locale.ROOT) + " does not run on "
                    + device + " with this libtorch (" + AdeptCommand.firstLine(e.getMessage()) + "); use float32");
        }
    }
}
