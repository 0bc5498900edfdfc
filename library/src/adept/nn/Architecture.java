package adept.nn;

import adept.nn.Family.Bias;
import adept.nn.Family.Defaults;
import adept.nn.Family.NormForm;
import java.util.Arrays;
import java.util.List;

/** The Hugging Face decoder families adept runs: their class and model_type names and their {@link Family} spec. */
public enum Architecture {
    LLAMA("LlamaForCausalLM", "llama", new Family(NormForm.WEIGHT, false, false, false, Bias.ATTENTION_BIAS, Bias.ATTENTION_BIAS,
            true, false, "hidden_act", Defaults.plain(2048, 0))),
    /** Qwen2 always has q/k/v biases and never an o_proj bias. */
    QWEN2("Qwen2ForCausalLM", "qwen2", new Family(NormForm.WEIGHT, false, false, false, Bias.ALWAYS, Bias.NEVER,
            true, false, "hidden_act", Defaults.plain(32768, 0))),
    /** Qwen3 norms q and k per head; Qwen3Config's head_dim defaults to 128, not hidden / heads. */
    QWEN3("Qwen3ForCausalLM", "qwen3", new Family(NormForm.WEIGHT, false, false, true, Bias.ATTENTION_BIAS, Bias.ATTENTION_BIAS,
            true, false, "hidden_act", Defaults.plain(32768, 128))),
    /** Gemma 2: scaled embeddings, (1 + w) norms around both sublayers, GELU-tanh, soft-capped logits, every other layer local. */
    GEMMA2("Gemma2ForCausalLM", "gemma2", new Family(NormForm.ONE_PLUS_WEIGHT, true, true, false, Bias.ATTENTION_BIAS,
            Bias.ATTENTION_BIAS, false, true, "hidden_activation",
            new Defaults(8192, 256, 10000.0, true, Activation.GELU_TANH, 256, 50.0, 30.0, 4096, 2, 0))),
    /** Gemma 3 (text): as Gemma 2 plus q/k norms, no soft-capping by default, 5 local : 1 global layers with their own rope base. */
    GEMMA3("Gemma3ForCausalLM", "gemma3_text", new Family(NormForm.ONE_PLUS_WEIGHT, true, true, true, Bias.ATTENTION_BIAS,
            Bias.ATTENTION_BIAS, false, true, "hidden_activation",
            new Defaults(131072, 256, 1_000_000.0, true, Activation.GELU_TANH, 256, 0, 0, 4096, 6, 10000.0)));

    private final String className;
    private final String modelType;
    private final Family family;

    Architecture(String className, String modelType, Family family) {
        this.className = className;
        this.modelType = modelType;
        this.family = family;
    }

    /** The name in config.json's "architectures". */
    public String className() {
        return className;
    }

    /** config.json's "model_type". */
    public String modelType() {
        return modelType;
    }

    /** Names, norm form, activation, extras and config defaults of this family. */
    public Family family() {
        return family;
    }

    /** The architecture config.json names (its "architectures" class names first, then "model_type"); an error for others. */
    public static Architecture fromNames(List<String> architectures, String modelType) {
        for (Architecture a : values()) {
            if (architectures != null && architectures.contains(a.className)) return a;
        }
        for (Architecture a : values()) {
            if (a.modelType.equals(modelType)) return a;
        }
        throw new ModelException("unsupported architecture " + architectures + " (model_type " + modelType + "); adept supports "
                + String.join(", ", Arrays.stream(values()).map(Architecture::className).toList()));
    }
}
