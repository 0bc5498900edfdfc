package adept.bench;
import adept.nn.*; import adept.optim.AdamW; import adept.tensor.*;
import java.lang.foreign.*; import java.lang.invoke.MethodHandle; import java.util.*;
import org.junit.jupiter.api.Test;
class ZzProfile {
    @Test
    void profile() throws Throwable {
        Torch.init();
        Linker l = Linker.nativeLinker(); SymbolLookup s = SymbolLookup.loaderLookup();
        MethodHandle start = l.downcallHandle(s.find("adept_profile_start").get(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        MethodHandle stop = l.downcallHandle(s.find("adept_profile_stop").get(), FunctionDescriptor.ofVoid());
        Torch.setNumThreads(2);
        ModelConfig config = ModelShape.llama(8192, 256, 688, 6, 8, 4, 256);
        try (CausalLM model = CausalLM.random(config, 1234, 0.02, DType.FLOAT32, Device.CPU)) {
            model.requiresGrad(true);
            try (AdamW adam = AdamW.of(new ArrayList<>(model.namedParameters().values()), 0.1); Scope sc = Scope.open()) {
                Tensor ids = Tensor.randint(0, 8192, DType.INT64, Device.CPU, 8, 256);
                for (int i = 0; i < 3; i++) BenchTrainCommand.step(model, adam, ids, null);
                try (Arena a = Arena.ofConfined()) {
                    start.invoke(a.allocateFrom(System.getProperty("profile.out", "/tmp/adept_profile.json")));
                    for (int i = 0; i < 3; i++) BenchTrainCommand.step(model, adam, ids, null);
                    stop.invoke();
                }
            }
        }
    }
}
