package adept.tensor;

import java.util.Locale;

/** Element types, with the codes of libtorch's c10::ScalarType. */
public enum DType {
    UINT8(0, 1),
    INT8(1, 1),
    INT16(2, 2),
    INT32(3, 4),
    INT64(4, 8),
    FLOAT16(5, 2),
    FLOAT32(6, 4),
    FLOAT64(7, 8),
    BOOL(11, 1),
    BFLOAT16(15, 2);

    private final int code;
    private final int byteSize;

    DType(int code, int byteSize) {
        this.code = code;
        this.byteSize = byteSize;
    }

    /** The c10::ScalarType value. */
    public int code() {
        return code;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** True for float16, bfloat16, float32 and float64. */
    public boolean isFloatingPoint() {
        return this == FLOAT16 || this == FLOAT32 || this == FLOAT64 || this == BFLOAT16;
    }

    /** The dtype of libtorch's scalar-type code. */
    public static DType fromCode(int code) {
        for (DType t : values()) {
            if (t.code == code) return t;
        }
        throw new TorchException("unsupported libtorch scalar type code " + code);
    }

    /** Parses names as PyTorch and safetensors spell them: float32, f32, bf16, int64, ... */
    public static DType parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "uint8", "u8" -> UINT8;
            case "int8", "i8" -> INT8;
            case "int16", "i16" -> INT16;
            case "int32", "i32", "int" -> INT32;
            case "int64", "i64", "long" -> INT64;
            case "float16", "f16", "half", "fp16" -> FLOAT16;
            case "float32", "f32", "float", "fp32" -> FLOAT32;
            case "float64", "f64", "double", "fp64" -> FLOAT64;
            case "bool" -> BOOL;
            case "bfloat16", "bf16" -> BFLOAT16;
            default -> throw new TorchException("unknown dtype '" + name + "'");
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
