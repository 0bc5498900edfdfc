package adept.tensor;

/** Where a tensor lives: the CPU or one CUDA device. */
public record Device(Type type, int index) {
    /** A device kind, with libtorch's code. */
    public enum Type {
        CPU(0),
        CUDA(1);

        final int code;

        Type(int code) {
            this.code = code;
        }
    }

    public static final Device CPU = new Device(Type.CPU, 0);

    public Device {
        if (index < 0) throw new TorchException("device index must be >= 0, got " + index);
        if (type == Type.CPU && index != 0) throw new TorchException("cpu has no device index " + index);
    }

    /** The CUDA device index. */
    public static Device cuda(int index) {
        return new Device(Type.CUDA, index);
    }

    /** True for a CUDA device. */
    public boolean isCuda() {
        return type == Type.CUDA;
    }

    /** Parses "cpu", "cuda" and "cuda:N". Whether the device exists is checked when it is used. */
    public static Device parse(String spec) {
        String s = spec.trim();
        if (s.equals("cpu")) return CPU;
        if (s.equals("cuda")) return cuda(0);
        if (s.startsWith("cuda:")) {
            try {
                return cuda(Integer.parseInt(s.substring(5)));
            } catch (NumberFormatException e) {
                throw new TorchException("bad device index in '" + spec + "'");
            }
        }
        throw new TorchException("unknown device '" + spec + "' (expected cpu, cuda or cuda:N)");
    }

    static Device of(int typeCode, int index) {
        if (typeCode == Type.CPU.code) return CPU;
        if (typeCode == Type.CUDA.code) return cuda(index);
        throw new TorchException("unsupported device type code " + typeCode);
    }

    @Override
    public String toString() {
        return type == Type.CPU ? "cpu" : "cuda:" + index;
    }
}
