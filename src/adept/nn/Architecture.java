package adept.nn;

import java.util.List;

/** The Hugging Face decoder families adept runs, with their class and model_type names. */
public enum Architecture {
    LLAMA("LlamaForCausalLM", "llama"),
    QWEN2("Qwen2ForCausalLM", "qwen2"),
    QWEN3("Qwen3ForCausalLM", "qwen3");

    private final String className;
    private final String modelType;

    Architecture(String className, String modelType) {
        this.className = className;
        this.modelType = modelType;
    }

    /** The name in config.json's "architectures". */
    public String className() {
        return className;
    }

    /** config.json's "model_type". */
    public String modelType() {
        return modelType;
    }

    /** Qwen2 always has q/k/v biases and never an o_proj bias; the others follow attention_bias. */
    boolean qkvBias(boolean attentionBias) {
        return this == QWEN2 || attentionBias;
    }

    boolean outputBias(boolean attentionBias) {
        return this != QWEN2 && attentionBias;
    }

    /** Qwen3 normalises q and k per head before rotary embeddings. */
    boolean hasQkNorm() {
        return this == QWEN3;
    }

    /** The architecture config.json names (its "architectures" class names first, then "model_type"); an error for others. */
    public static Architecture fromNames(List<String> architectures, String modelType) {
        for (Architecture a : values()) {
            if (architectures != null && architectures.contains(a.className)) return a;
        }
        for (Architecture a : values()) {
            if (a.modelType.equals(modelType)) return a;
        }
        throw new ModelException("unsupported architecture " + architectures + " (model_type " + modelType
                + "); adept supports LlamaForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM");
    }
}
