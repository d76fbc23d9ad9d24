"""PDF/A-1b pages with the ReportLab canvas (open-source ReportLab does not write PDF/A itself).

- fonts: Bitstream Vera, shipped inside the reportlab package (free licence, no system font
  needed), embedded as TrueType subsets with ToUnicode maps so the text extracts; it has
  every French glyph but the narrow no-break space U+202F, which callers draw as U+00A0;
- XMP metadata (pdfaid part 1, conformance B, dc:title, dc:creator, dc:description, the
  dates) mirroring the Info dictionary, in an unfiltered stream as PDF/A-1 requires;
- an sRGB output intent with the sRGB ICC v2 profile shipped by pikepdf (pikepdf/pdfa/data);
- PDF 1.4, no transparency (callers use opaque colours), no encryption, no empty /Trans.

Speed: each process registers the fonts once; every document gets the same codes for a
fixed French character set (``preset_fonts``), so the font subsets, their ToUnicode maps
and dictionaries are built and deflated once per process (``_cache_subsets``), and a block
of text drawn at the same place gives the same page code (``Fragments``).
"""

from __future__ import annotations

import io
import zlib
from datetime import date
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import SUBSETN, TTFont, makeToUnicodeCMap
from reportlab.pdfgen.canvas import Canvas

REGULAR, BOLD, ITALIC = "EntVera", "EntVera-Bold", "EntVera-Italic"
_FONT_FILES = {REGULAR: "Vera.ttf", BOLD: "VeraBd.ttf", ITALIC: "VeraIt.ttf"}
# Assigned first in every document so that every notice embeds the same subsets (cached).
FRENCH = ("".join(chr(c) for c in range(0x20, 0x7F))
          + "\u00a0àâäçéèêëîïôöùûüÿæœÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÆŒ«»€’‘“”—–…−×°·²")
_SUBSETS_MAX = 64  # distinct font subsets kept per font (a name with a rare letter makes its own)

# ----- fonts, ICC profile and the PDF/A objects --------------------------------------------

_READY = False
_ICC: bytes | None = None
_PRESET: dict[str, tuple] = {}  # font name -> (assignments, subsets, next code) after the French set


def setup() -> None:
    """Register the fonts once per process, with their subsets cached (same codes in every notice)."""
    global _READY
    if _READY:
        return
    rl_config.useA85 = 0  # deflated page streams stay binary: ASCII85 costs time and 25 % of size for nothing
    folder = Path(resources.files("reportlab") / "fonts")
    for name, filename in _FONT_FILES.items():
        font = TTFont(name, str(folder / filename), shapable=False)
        _cache_subsets(font)
        pdfmetrics.registerFont(font)
    _READY = True


class _Dict(pdfdoc.PDFObject):
    """A dictionary whose constant entries are formatted once; only its references are formatted per file."""

    def __init__(self, constant: bytes, references: dict[str, object]) -> None:
        self.constant = constant
        self.references = references

    def format(self, document) -> bytes:
        refs = b"".join(b"/%s %s " % (key.encode("ascii"), pdfdoc.format(value, document))
                        for key, value in self.references.items())
        return b"<< " + self.constant + b" " + refs + b">>"


def _constant(entries: dict[str, str]) -> bytes:
    return " ".join(f"/{key} {value}" for key, value in entries.items()).encode("ascii")


def _cache_subsets(font: TTFont) -> None:
    """Replace ``font.addObjects`` by one that builds each distinct subset's objects only once.

    ReportLab rebuilds, deflates and formats the font program, /Widths and ToUnicode map of
    every subset of every document; with the same codes assigned in every notice they are
    the same, so their bytes are reused. Same objects as ReportLab's own ``addObjects``.
    """
    face = font.face
    cache: dict[tuple, tuple] = {}

    def add_objects(doc) -> None:
        state = font.state.pop(doc)
        for n, subset in enumerate(state.subsets):
            internal = f"{state.internalName}+{n}"
            base = (b"".join((SUBSETN(n), b"+", face.name, face.subfontNameX))).decode("pdfdoc")
            key = (base, internal, tuple(subset))
            entry = cache.get(key)
            if entry is None:
                program = face.makeSubset(subset)
                widths = " ".join(fp_str(w) for w in map(face.getCharWidth, subset))
                entry = (zlib.compress(program, 6), len(program),
                         zlib.compress(makeToUnicodeCMap(base, subset).encode("latin-1"), 6),
                         _constant({"Type": "/FontDescriptor", "Ascent": fp_str(face.ascent),
                                    "CapHeight": fp_str(face.capHeight), "Descent": fp_str(face.descent),
                                    "Flags": str((face.flags & ~32) | 4),  # symbolic, as ReportLab declares
                                    "FontBBox": "[" + " ".join(fp_str(v) for v in face.bbox) + "]",
                                    "FontName": "/" + base, "ItalicAngle": fp_str(face.italicAngle),
                                    "StemV": fp_str(face.stemV), "MissingWidth": fp_str(face.defaultWidth)}),
                         _constant({"Type": "/Font", "Subtype": "/TrueType", "Name": "/" + internal,
                                    "BaseFont": "/" + base, "FirstChar": "0", "LastChar": str(len(subset) - 1),
                                    "Widths": f"[{widths}]"}))
                if len(cache) < _SUBSETS_MAX:
                    cache[key] = entry
            program, length, cmap, descriptor_bytes, font_bytes = entry
            flate = pdfdoc.PDFName("FlateDecode")
            file_ref = doc.Reference(pdfdoc.PDFStream(pdfdoc.PDFDictionary({"Length1": length, "Filter": flate}),
                                                      program, filters=[]), f"fontFile:{face.filename}({base})")
            descriptor = doc.Reference(_Dict(descriptor_bytes, {"FontFile2": file_ref}), "fontDescriptor:" + base)
            to_unicode = doc.Reference(pdfdoc.PDFStream(pdfdoc.PDFDictionary({"Filter": flate}), cmap, filters=[]),
                                       "toUnicodeCMap:" + base)
            pdf_font = _Dict(font_bytes, {"ToUnicode": to_unicode, "FontDescriptor": descriptor})
            doc.idToObject["BasicFonts"].dict[internal] = doc.Reference(pdf_font, internal)

    font.addObjects = add_objects


def _icc() -> bytes:
    """The sRGB IEC 61966-2.1 profile (ICC v2, as PDF 1.4 requires) shipped by pikepdf, deflated once."""
    global _ICC
    if _ICC is None:
        _ICC = zlib.compress((resources.files("pikepdf") / "pdfa" / "data" / "sRGB.icc").read_bytes(), 9)
    return _ICC


class _UnfilteredStream(pdfdoc.PDFStream):
    """A stream written as is, without even an empty /Filter (PDF/A-1 wants the XMP stream unfiltered)."""

    def format(self, document):
        dictionary = pdfdoc.PDFDictionary(self.dictionary.dict.copy())
        dictionary["Length"] = len(self.content)
        return pdfdoc.format(dictionary, document) + b"\nstream\n" + self.content + b"endstream\n"


def _xmp(title: str, author: str, subject: str, keywords: str, producer: str, creator: str, when: str) -> bytes:
    def alt(text: str) -> str:
        return f'<rdf:Alt><rdf:li xml:lang="x-default">{escape(text)}</rdf:li></rdf:Alt>'

    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
            '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
            '<pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>\n'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            '<dc:format>application/pdf</dc:format>'
            f'<dc:title>{alt(title)}</dc:title>'
            f'<dc:creator><rdf:Seq><rdf:li>{escape(author)}</rdf:li></rdf:Seq></dc:creator>'
            f'<dc:description>{alt(subject)}</dc:description></rdf:Description>\n'
            '<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">'
            f'<pdf:Producer>{escape(producer)}</pdf:Producer><pdf:Keywords>{escape(keywords)}</pdf:Keywords>'
            '</rdf:Description>\n'
            '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
            f'<xmp:CreatorTool>{escape(creator)}</xmp:CreatorTool><xmp:CreateDate>{when}</xmp:CreateDate>'
            f'<xmp:ModifyDate>{when}</xmp:ModifyDate><xmp:MetadataDate>{when}</xmp:MetadataDate>'
            '</rdf:Description>\n'
            '</rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="r"?>').encode("utf-8")



def declare_pdfa(canvas: Canvas, *, title: str, author: str, subject: str, keywords: str, day: date) -> None:
    """Info dictionary, XMP metadata and sRGB output intent: what makes the file PDF/A-1b."""
    creator = "ent-bill"
    producer = pdfdoc.PDFInfo.producer
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setSubject(subject)
    canvas.setKeywords(keywords)
    canvas.setCreator(creator)
    doc = canvas._doc
    doc.info._dateFormatter = lambda *_: f"D:{day:%Y%m%d}000000+00'00'"
    metadata = _UnfilteredStream(pdfdoc.PDFDictionary({"Type": pdfdoc.PDFName("Metadata"),
                                                       "Subtype": pdfdoc.PDFName("XML")}),
                                 _xmp(title, author, subject, keywords, producer, creator, f"{day:%Y-%m-%d}T00:00:00Z"))
    catalog = doc.Catalog
    catalog.Metadata = doc.Reference(metadata, "XMPMetadata")
    profile = pdfdoc.PDFStream(pdfdoc.PDFDictionary({"N": 3, "Filter": pdfdoc.PDFName("FlateDecode")}), _icc(),
                               filters=[])
    intent = pdfdoc.PDFDictionary({
        "Type": pdfdoc.PDFName("OutputIntent"), "S": pdfdoc.PDFName("GTS_PDFA1"),
        "OutputConditionIdentifier": pdfdoc.PDFString("sRGB IEC61966-2.1"), "RegistryName":
        pdfdoc.PDFString("http://www.color.org"), "Info": pdfdoc.PDFString("sRGB IEC61966-2.1"),
        "DestOutputProfile": doc.Reference(profile, "sRGBProfile")})
    catalog.OutputIntents = pdfdoc.PDFArray([intent])
    catalog.__NoDefault__ = [*pdfdoc.PDFCatalog.__NoDefault__, "OutputIntents"]  # written, and kept direct



def preset_fonts(doc) -> None:
    """Give the French character set the same codes, and the fonts the same names, in every notice.

    Then every notice embeds the same font subsets (built once, ``_cache_subsets``) and the
    same text draws to the same bytes (``Fragments``).
    """
    for name in (REGULAR, BOLD, ITALIC):
        font = pdfmetrics.getFont(name)
        preset = _PRESET.get(name)
        if preset is None:
            font.splitString(FRENCH, doc)
            state = font.state[doc]
            _PRESET[name] = (dict(state.assignments), [list(subset) for subset in state.subsets], state.nextCode)
        else:
            state = font.state[doc] = TTFont.State(font._asciiReadable, font)
            state.assignments = dict(preset[0])
            state.subsets = [list(subset) for subset in preset[1]]
            state.nextCode = preset[2]
        font.getSubsetInternalName(0, doc)


_CANVAS_STATE = ("_fontname", "_fontsize", "_leading", "_fillColorObj", "_strokeColorObj", "_lineWidth")
FRENCH_SET = frozenset(FRENCH)
_FRAGMENTS_MAX = 20_000


class Fragments:
    """The page code a block drew at a height, reused when the same block is drawn at the same height.

    Only for blocks whose text is all in the preset French set (same font codes in every
    notice), and every block sets its font and colours before it draws; the canvas state
    the block left is restored with its code.
    """

    cache: dict[tuple, tuple[list[str], tuple]] = {}

    @classmethod
    def draw(cls, c: Canvas, y: float, draw, key) -> None:
        if key is None:
            draw(c, y)
            return
        hit = cls.cache.get((key, y))
        if hit is not None:
            c._code.extend(hit[0])
            for attribute, value in zip(_CANVAS_STATE, hit[1]):
                setattr(c, attribute, value)
            return
        start = len(c._code)
        draw(c, y)
        if len(cls.cache) < _FRAGMENTS_MAX:
            cls.cache[key, y] = (c._code[start:], tuple(getattr(c, a) for a in _CANVAS_STATE))




def new_canvas(buffer: io.BytesIO) -> Canvas:
    """An A4 canvas for a PDF/A-1b file: PDF 1.4, deterministic bytes, the fonts preset."""
    setup()
    canvas = Canvas(buffer, pagesize=A4, pdfVersion=(1, 4), invariant=1, pageCompression=1, lang="fr-FR",
                    initialFontName=REGULAR, initialFontSize=9.5)
    preset_fonts(canvas._doc)
    return canvas


def end_page(canvas: Canvas) -> None:
    """``showPage`` without ReportLab's empty /Trans, the page deflated at level 1.

    Level 1 takes 0.1 ms for 10 % more bytes where ReportLab's level 6 takes 0.45 ms.
    """
    canvas.showPage()
    page = canvas._doc.Pages.pages[-1]
    page.Trans = None  # the PDF/A check cannot vouch for an empty /Trans
    page.Contents = pdfdoc.PDFStream(pdfdoc.PDFDictionary({"Filter": pdfdoc.PDFName("FlateDecode")}),
                                     zlib.compress(page.stream.encode("utf-8"), 1), filters=[])
