package adept.cli;

import adept.tensor.DType;
import picocli.CommandLine.Option;

/** The --dtype option of every command that runs a model (a picocli mixin): the compute dtype, float32 by default. */
public final class ComputeDTypeOption {
    @Option(names = "--dtype", defaultValue = "float32", description = "compute dtype: float32, bfloat16, float16 (default: ${DEFAULT-VALUE})")
    String dtype;

    /** The parsed dtype (a bad name is one line naming it). */
    public DType dtype() {
        return DType.parse(dtype);
    }

    /** The option's text, as given. */
    public String name() {
        return dtype;
    }
}
