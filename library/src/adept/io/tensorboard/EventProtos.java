package adept.io.tensorboard;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.EnumDescriptorProto;
import com.google.protobuf.DescriptorProtos.EnumValueDescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto.Label;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto.Type;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.DescriptorProtos.OneofDescriptorProto;
import com.google.protobuf.Descriptors;
import com.google.protobuf.Descriptors.Descriptor;

/**
 * The subset of TensorFlow's event protos that TensorBoard's scalars, histograms and text read, described at run time
 * for protobuf's DynamicMessage (no generated code). Field numbers and types as in tensorflow/core/util/event.proto,
 * framework/summary.proto, histogram.proto, tensor.proto, tensor_shape.proto and types.proto; fields adept never
 * writes are left out, which changes nothing on the wire.
 */
final class EventProtos {
    static final Descriptor EVENT;
    static final Descriptor SUMMARY;
    static final Descriptor VALUE;
    static final Descriptor METADATA;
    static final Descriptor PLUGIN_DATA;
    static final Descriptor HISTOGRAM;
    static final Descriptor TENSOR;
    static final Descriptor SHAPE;
    static final Descriptor SESSION_LOG;
    /** tensorflow.DataType DT_STRING. */
    static final int DT_STRING = 7;

    private EventProtos() {}

    static {
        DescriptorProto histogram = DescriptorProto.newBuilder().setName("HistogramProto")
                .addField(field("min", 1, Type.TYPE_DOUBLE))
                .addField(field("max", 2, Type.TYPE_DOUBLE))
                .addField(field("num", 3, Type.TYPE_DOUBLE))
                .addField(field("sum", 4, Type.TYPE_DOUBLE))
                .addField(field("sum_squares", 5, Type.TYPE_DOUBLE))
                .addField(repeated(field("bucket_limit", 6, Type.TYPE_DOUBLE)))
                .addField(repeated(field("bucket", 7, Type.TYPE_DOUBLE)))
                .build();
        DescriptorProto shape = DescriptorProto.newBuilder().setName("TensorShapeProto")
                .addNestedType(DescriptorProto.newBuilder().setName("Dim")
                        .addField(field("size", 1, Type.TYPE_INT64))
                        .addField(field("name", 2, Type.TYPE_STRING)))
                .addField(repeated(message("dim", 2, ".tensorflow.TensorShapeProto.Dim")))
                .addField(field("unknown_rank", 3, Type.TYPE_BOOL))
                .build();
        EnumDescriptorProto dataType = EnumDescriptorProto.newBuilder().setName("DataType")
                .addValue(EnumValueDescriptorProto.newBuilder().setName("DT_INVALID").setNumber(0))
                .addValue(EnumValueDescriptorProto.newBuilder().setName("DT_FLOAT").setNumber(1))
                .addValue(EnumValueDescriptorProto.newBuilder().setName("DT_STRING").setNumber(DT_STRING))
                .build();
        DescriptorProto tensor = DescriptorProto.newBuilder().setName("TensorProto")
                .addField(field("dtype", 1, Type.TYPE_ENUM).setTypeName(".tensorflow.DataType"))
                .addField(message("tensor_shape", 2, ".tensorflow.TensorShapeProto"))
                .addField(repeated(field("string_val", 8, Type.TYPE_BYTES)))
                .build();
        DescriptorProto metadata = DescriptorProto.newBuilder().setName("SummaryMetadata")
                .addNestedType(DescriptorProto.newBuilder().setName("PluginData")
                        .addField(field("plugin_name", 1, Type.TYPE_STRING))
                        .addField(field("content", 2, Type.TYPE_BYTES)))
                .addField(message("plugin_data", 1, ".tensorflow.SummaryMetadata.PluginData"))
                .addField(field("display_name", 2, Type.TYPE_STRING))
                .addField(field("summary_description", 3, Type.TYPE_STRING))
                .build();
        // Summary.Value's payload is a oneof: a simple_value of 0.0 is still written (it has presence)
        DescriptorProto value = DescriptorProto.newBuilder().setName("Value")
                .addOneofDecl(OneofDescriptorProto.newBuilder().setName("value"))
                .addField(field("tag", 1, Type.TYPE_STRING))
                .addField(field("simple_value", 2, Type.TYPE_FLOAT).setOneofIndex(0))
                .addField(message("histo", 5, ".tensorflow.HistogramProto").setOneofIndex(0))
                .addField(message("tensor", 8, ".tensorflow.TensorProto").setOneofIndex(0))
                .addField(message("metadata", 9, ".tensorflow.SummaryMetadata"))
                .build();
        DescriptorProto summary = DescriptorProto.newBuilder().setName("Summary")
                .addNestedType(value)
                .addField(repeated(message("value", 1, ".tensorflow.Summary.Value")))
                .build();
        DescriptorProto sessionLog = DescriptorProto.newBuilder().setName("SessionLog")
                .addEnumType(EnumDescriptorProto.newBuilder().setName("SessionStatus")
                        .addValue(EnumValueDescriptorProto.newBuilder().setName("STATUS_UNSPECIFIED").setNumber(0))
                        .addValue(EnumValueDescriptorProto.newBuilder().setName("START").setNumber(1))
                        .addValue(EnumValueDescriptorProto.newBuilder().setName("STOP").setNumber(2))
                        .addValue(EnumValueDescriptorProto.newBuilder().setName("CHECKPOINT").setNumber(3)))
                .addField(field("status", 1, Type.TYPE_ENUM).setTypeName(".tensorflow.SessionLog.SessionStatus"))
                .addField(field("checkpoint_path", 2, Type.TYPE_STRING))
                .addField(field("msg", 3, Type.TYPE_STRING))
                .build();
        DescriptorProto event = DescriptorProto.newBuilder().setName("Event")
                .addOneofDecl(OneofDescriptorProto.newBuilder().setName("what"))
                .addField(field("wall_time", 1, Type.TYPE_DOUBLE))
                .addField(field("step", 2, Type.TYPE_INT64))
                .addField(field("file_version", 3, Type.TYPE_STRING).setOneofIndex(0))
                .addField(message("summary", 5, ".tensorflow.Summary").setOneofIndex(0))
                .addField(message("session_log", 7, ".tensorflow.SessionLog").setOneofIndex(0))
                .build();
        FileDescriptorProto file = FileDescriptorProto.newBuilder().setName("adept/tensorboard_event.proto").setPackage("tensorflow")
                .setSyntax("proto3").addEnumType(dataType)
                .addMessageType(histogram).addMessageType(shape).addMessageType(tensor).addMessageType(metadata)
                .addMessageType(summary).addMessageType(sessionLog).addMessageType(event).build();
        Descriptors.FileDescriptor fd;
        try {
            fd = Descriptors.FileDescriptor.buildFrom(file, new Descriptors.FileDescriptor[0]);
        } catch (Descriptors.DescriptorValidationException e) {
            throw new ExceptionInInitializerError(e);
        }
        HISTOGRAM = fd.findMessageTypeByName("HistogramProto");
        SHAPE = fd.findMessageTypeByName("TensorShapeProto");
        TENSOR = fd.findMessageTypeByName("TensorProto");
        METADATA = fd.findMessageTypeByName("SummaryMetadata");
        PLUGIN_DATA = METADATA.findNestedTypeByName("PluginData");
        SUMMARY = fd.findMessageTypeByName("Summary");
        VALUE = SUMMARY.findNestedTypeByName("Value");
        SESSION_LOG = fd.findMessageTypeByName("SessionLog");
        EVENT = fd.findMessageTypeByName("Event");
    }

    private static FieldDescriptorProto.Builder field(String name, int number, Type type) {
        return FieldDescriptorProto.newBuilder().setName(name).setNumber(number).setType(type).setLabel(Label.LABEL_OPTIONAL);
    }

    private static FieldDescriptorProto.Builder message(String name, int number, String typeName) {
        return field(name, number, Type.TYPE_MESSAGE).setTypeName(typeName);
    }

    private static FieldDescriptorProto.Builder repeated(FieldDescriptorProto.Builder f) {
        return f.setLabel(Label.LABEL_REPEATED);
    }
}
