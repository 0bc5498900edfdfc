package adept.tune;

import adept.nn.CausalLM;
import adept.nn.DecoderLayer;
import adept.nn.LoraAdapter;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The LoRA baseline's pieces on a model: adapters on chosen projections of every layer (A kaiming-uniform as PEFT
 * initialises it, B zero, so the adapted model starts as the base model), the rank whose trainable-parameter count is
 * closest to a given count, and the merged weights W + (alpha / r) B A.
 */
public final class LoraAdapters {
    /** The projections LoRA can adapt, by the short names PEFT's target_modules uses. */
    public static final List<String> TARGETS = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    private LoraAdapters() {}

    /** The layer-relative projection name of a short name ("q_proj" -> "self_attn.q_proj"); unknown names are an error naming lora_targets. */
    public static String projection(String target) {
        for (String p : DecoderLayer.PROJECTIONS) if (p.endsWith("." + target)) return p;
        throw new IllegalArgumentException("lora_targets: unknown projection \"" + target + "\" (" + String.join(", ", TARGETS) + ")");
    }

    /** The short name of a layer-relative projection name ("mlp.up_proj" -> "up_proj"). */
    public static String target(String projection) {
        return projection.substring(projection.indexOf('.') + 1);
    }

    /** Trainable parameters that each unit of rank adds: sum over layers and targets of in + out features. */
    public static long parametersPerRank(ModelConfig config, List<String> targets) {
        Map<String, long[]> shapes = config.layerShapes();
        long perLayer = 0;
        for (String t : targets) {
            long[] shape = shapes.get(projection(t) + ".weight");
            if (shape == null) throw new IllegalArgumentException("lora_targets: " + config.architecture().className() + " has no " + t);
            perLayer += shape[0] + shape[1];
        }
        return perLayer * config.numHiddenLayers();
    }

    /**
     * The rank whose adapters' parameter count is closest to parameters (ties: the smaller rank); an error when even
     * rank 1 is closer to nothing than to the count (what: a phrase naming where the count comes from).
     */
    public static int matchRank(long parameters, ModelConfig config, List<String> targets, String what) {
        long per = parametersPerRank(config, targets);
        long lower = parameters / per;
        long rank = (parameters - lower * per) * 2 > per ? lower + 1 : lower;
        if (rank < 1) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "lora_match: %s, %,d parameters, is less than half of what rank 1 adapters take on this model (%,d): nothing to match; give lora_rank",
                    what, parameters, per));
        }
        if (rank > Integer.MAX_VALUE) throw new IllegalArgumentException("lora_match: " + what + " needs rank " + rank + ", too large");
        return (int) rank;
    }

    /**
     * kaiming_uniform_(A, a=sqrt(5)) as torch.nn.init computes its bound for fan-in in: U(-1/sqrt(in), 1/sqrt(in)),
     * spelled as torch spells it so that the double is the same.
     */
    static double kaimingBound(long fanIn) {
        double a = Math.sqrt(5.0);
        double gain = Math.sqrt(2.0 / (1 + a * a));
        double std = gain / Math.sqrt(fanIn);
        return Math.sqrt(3.0) * std;
    }

    /**
     * Attaches spec's adapters to every layer of model, layer by layer and within a layer in spec.targets() order:
     * after Torch.manualSeed(seed), A is drawn U(-bound, bound) on the CPU (float64 for a float64 model, else
     * float32, then converted), B is zero. Returns the adapter tensors by name, the trainable set of a LoRA run.
     */
    public static Map<String, Tensor> attach(CausalLM model, LoraSpec spec, long seed) {
        if (!model.adapterParameters().isEmpty()) throw new IllegalArgumentException("the model already carries LoRA adapters");
        Torch.manualSeed(seed);
        DType draw = model.dtype() == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (DecoderLayer layer : model.layers()) {
                for (String t : spec.targets()) {
                    String p = projection(t);
                    Tensor w = layer.parameters().get(p + ".weight");
                    if (w == null) throw new IllegalArgumentException("lora_targets: " + model.config().architecture().className() + " has no " + t);
                    long out = w.size(0);
                    long in = w.size(1);
                    double bound = kaimingBound(in);
                    // torch's uniform_(from, to): x * (to - from) + from, x uniform in [0, 1)
                    Tensor a = Tensor.rand(draw, Device.CPU, spec.rank(), in).mul(2 * bound).add(-bound)
                            .to(model.dtype(), model.device()).contiguous().keep();
                    Tensor b = Tensor.zeros(model.dtype(), model.device(), out, spec.rank()).keep();
                    layer.attachAdapter(p, new LoraAdapter(a, b, spec.alpha(), spec.dropout()));
                }
            }
        }
        return model.adapterParameters();
    }

    /**
     * Attaches adapters from tensors named as {@link CausalLM#adapterParameters()} names them (converted to the model's
     * dtype and device; the given tensors stay the caller's): every layer must have A and B for each of spec's targets,
     * of spec's rank, and nothing else. Returns the adapter tensors by name.
     */
    public static Map<String, Tensor> attach(CausalLM model, LoraSpec spec, Map<String, Tensor> tensors) {
        if (!model.adapterParameters().isEmpty()) throw new IllegalArgumentException("the model already carries LoRA adapters");
        List<String> expected = new ArrayList<>();
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (int l = 0; l < model.layers().size(); l++) {
                DecoderLayer layer = model.layers().get(l);
                for (String t : spec.targets()) {
                    String p = projection(t);
                    String prefix = ModelConfig.layerPrefix(l) + p;
                    expected.add(prefix + ".lora_A.weight");
                    expected.add(prefix + ".lora_B.weight");
                    Tensor a = tensors.get(prefix + ".lora_A.weight");
                    Tensor b = tensors.get(prefix + ".lora_B.weight");
                    if (a == null || b == null) throw new IllegalArgumentException("adapter tensors for " + prefix + " are missing");
                    Tensor w = layer.parameters().get(p + ".weight");
                    if (w == null) throw new IllegalArgumentException("lora_targets: " + model.config().architecture().className() + " has no " + t);
                    if (a.dim() != 2 || a.size(0) != spec.rank() || b.dim() != 2 || b.size(1) != spec.rank()) {
                        throw new IllegalArgumentException(prefix + ": adapter shapes " + java.util.Arrays.toString(a.shape()) + " / "
                                + java.util.Arrays.toString(b.shape()) + " are not of rank " + spec.rank());
                    }
                    layer.attachAdapter(p, new LoraAdapter(a.to(model.dtype(), model.device()).contiguous().keep(),
                            b.to(model.dtype(), model.device()).contiguous().keep(), spec.alpha(), spec.dropout()));
                }
            }
        } catch (RuntimeException e) {
            for (DecoderLayer layer : model.layers()) layer.detachAdapters().values().forEach(LoraAdapter::close);
            throw e;
        }
        List<String> extra = new ArrayList<>(tensors.keySet());
        extra.removeAll(expected);
        if (!extra.isEmpty()) {
            for (DecoderLayer layer : model.layers()) layer.detachAdapters().values().forEach(LoraAdapter::close);
            throw new IllegalArgumentException("adapter tensor " + extra.get(0) + " is not one of lora_targets " + spec.targets() + " of a layer");
        }
        return model.adapterParameters();
    }

    /** The spec of the adapters model carries (from its first layer; every layer must agree), empty without adapters. */
    public static Optional<LoraSpec> specOf(CausalLM model) {
        LoraSpec spec = null;
        for (DecoderLayer layer : model.layers()) {
            if (layer.adapters().isEmpty() && spec == null) continue;
            List<String> targets = new ArrayList<>();
            LoraAdapter first = null;
            for (var e : layer.adapters().entrySet()) {
                targets.add(target(e.getKey()));
                LoraAdapter a = e.getValue();
                if (first == null) first = a;
                else if (a.rank() != first.rank() || a.alpha() != first.alpha() || a.dropout() != first.dropout()) {
                    throw new IllegalStateException("the model's adapters differ in rank, alpha or dropout");
                }
            }
            if (first == null) throw new IllegalStateException("some layers carry adapters and others not");
            LoraSpec here = new LoraSpec(first.rank(), first.alpha(), first.dropout(), targets);
            if (spec != null && !spec.equals(here)) throw new IllegalStateException("the layers' adapters differ: " + spec + " and " + here);
            spec = here;
        }
        return Optional.ofNullable(spec);
    }

    /**
     * The model's weights with every adapter merged in: W + (alpha / r) B A, computed in float64 and rounded once to
     * W's dtype (so a zero B gives W back bit for bit); the unadapted tensors are aliases of the model's. Named as
     * {@link CausalLM#namedParameters()}; the caller closes them (closing an alias leaves the model's tensor alone).
     */
    public static Map<String, Tensor> mergedWeights(CausalLM model) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        Map<String, Tensor> all = model.namedParameters();
        try (var noGrad = Torch.noGrad()) {
            for (var e : all.entrySet()) {
                try (Scope scope = Scope.open()) {
                    out.put(e.getKey(), merged(model, e.getKey(), e.getValue()).keep());
                }
            }
        } catch (RuntimeException e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
        return out;
    }

    private static Tensor merged(CausalLM model, String name, Tensor w) {
        int layer = UnitMap.layerOf(name);
        String suffix = ".weight";
        if (layer >= 0 && name.endsWith(suffix)) {
            String projection = name.substring(ModelConfig.layerPrefix(layer).length(), name.length() - suffix.length());
            LoraAdapter a = model.layers().get(layer).adapters().get(projection);
            if (a != null) return w.to(DType.FLOAT64).add(a.delta(DType.FLOAT64)).to(w.dtype());
        }
        return w.detach();
    }

    /** A new model (the caller's) with the merged weights of model: what the adapted model computes, as a plain model. */
    public static CausalLM merged(CausalLM model) {
        return CausalLM.fromWeights(model.config(), mergedWeights(model), model.dtype(), model.device());
    }
}
