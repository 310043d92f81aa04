using System.Buffers;

namespace Postern.Mime.Writing;

/// <summary>Serialises an entity tree: each header field, separator, body, delimiter, preamble and epilogue from its
/// own range (or its changed bytes). An unchanged parsed message comes out byte-identical.</summary>
public static class MimeWriter
{
    /// <summary>Writes <paramref name="entity"/> and everything below it.</summary>
    public static void Write(MimeEntity entity, IBufferWriter<byte> output)
    {
        var src = entity.Source.Span;
        foreach (var f in entity.Headers)
        {
            output.Write(f.Raw.Span);
        }

        output.Write(src[entity.HeaderEnd..entity.BodyStart]);
        switch (entity.Kind)
        {
            case MimeBodyKind.Message when entity.Message is not null:
                Write(entity.Message, output);
                break;
            case MimeBodyKind.Multipart:
                var delims = entity.Delimiters;
                var children = entity.Children;
                output.Write(entity.Preamble.Span);
                for (var i = 0; i < delims.Count; i++)
                {
                    output.Write(src[delims[i].Start..delims[i].End]);
                    if (i < children.Count)
                    {
                        Write(children[i], output);
                    }
                }

                if (entity.EpilogueStart >= 0)
                {
                    output.Write(src[entity.EpilogueStart..entity.End]);
                }

                break;
            default:
                output.Write(src[entity.BodyStart..entity.End]);
                break;
        }
    }

    /// <summary>Writes to a new array.</summary>
    public static byte[] ToArray(MimeEntity entity)
    {
        var w = new ArrayBufferWriter<byte>(Math.Max(256, entity.End - entity.Start + 256));
        Write(entity, w);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Writes to a stream.</summary>
    public static void Write(MimeEntity entity, Stream stream)
    {
        var w = new ArrayBufferWriter<byte>(Math.Max(256, entity.End - entity.Start + 256));
        Write(entity, w);
        stream.Write(w.WrittenSpan);
    }
}
