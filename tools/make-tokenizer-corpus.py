#!/usr/bin/env python3
"""Writes the tokenizer test corpus: tests/fixtures/tokenizer/corpus.jsonl, one {"text": ...} per line.

The corpus is what tests/tokenizer/tokenizer_test.cpp encodes with gemma-tune and with the independent reference
(tools/npm/reference-ids.js, transformers.js port + the real Gemma tokenizer) and compares id for id. It aims at
the places where tokenizers go wrong: every script, emoji sequences, control characters, whitespace runs of every
length (Gemma has added tokens for runs of "\\n", "\\t" and "▁"), literal special-token text and near misses,
literal "▁", code, very long words and paragraphs (Gemma BPE-encodes a whole paragraph as one word).

Deterministic: a fixed seed and no dependence on the Unicode tables of the running Python, so the same script
gives the same file everywhere. Standard library only.

    python3 tools/make-tokenizer-corpus.py [OUT]     (default: tests/fixtures/tokenizer/corpus.jsonl)
"""
import json
import os
import random
import sys

SEED = 20261125

# ---------------------------------------------------------------------------------------------------------------
# Hand-written samples, one list per script or theme.
SCRIPTS = {
    "latin": [
        "The quick brown fox jumps over the lazy dog.",
        "Ça va? Où est la bibliothèque? J'ai mangé des crêpes à Noël.",
        "Größenwahn, Straße, Übermäßig, Fußgängerübergänge.",
        "¿Dónde está el niño? ¡Mañana será otro día! Pingüino, acción.",
        "Ångström, Øresund, Æsir, smørrebrød, blåbærsyltetøy.",
        "Zażółć gęślą jaźń. Łódź, Kraków, Gdańsk, Wrocław.",
        "Příliš žluťoučký kůň úpěl ďábelské ódy.",
        "Árvíztűrő tükörfúrógép, őszibarack, ügyvéd.",
        "Şişli, İstanbul, ığdır, Çanakkale, Göztepe, Ağrı.",
        "Tiếng Việt có dấu: Hà Nội, Hồ Chí Minh, phở, bánh mì, người, được, những.",
        "Lietuvių kalba: ąčęėįšųūž. Latviešu: āčēģīķļņšūž.",
        "Þetta er íslenska: þú, ð, æ, ö. Føroyskt: ð, ø.",
        "Română: ștefan, țară, încă, mâine. Hrvatski: čćđšž.",
        "Malti: ċ, ġ, ħ, ż. Cymraeg: ŵ, ŷ. Esperanto: ĉ ĝ ĥ ĵ ŝ ŭ.",
        "Yorùbá: Ẹ kú àárọ̀. Igbo: Ọ̀ dị mma. Hausa: ɗ ƙ ƴ.",
        "Dutch ĳ ligature ĳs, and ﬁ ﬂ ﬀ ﬃ ligatures, ſ long s, ẞ capital sharp s.",
        "naïve café résumé coöperate façade jalapeño São Paulo",
        "ǅ ǈ ǋ ǲ titlecase digraphs; Ǆ ǆ; ŉ; ʼn",
    ],
    "greek": [
        "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
        "Γειά σου κόσμε! Ευχαριστώ πολύ. Καλημέρα, τι κάνεις;",
        "ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς τὸν θεόν",
        "αβγδεζηθικλμνξοπρστυφχψω ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ ς",
    ],
    "cyrillic": [
        "Съешь же ещё этих мягких французских булок да выпей чаю.",
        "Привет, мир! Как дела? Всё хорошо, спасибо.",
        "Українська: ґанок, їжак, є, і. Білоруская: ў. Српски: ђ, ћ, џ, љ, њ.",
        "Қазақ тілі: ә, ғ, қ, ң, ө, ұ, ү, һ, і. Монгол: ө, ү.",
        "Ѣ ѣ Ѳ ѳ Ѵ ѵ І і — дореформенная орѳографія",
    ],
    "armenian": ["Բարեւ Ձեզ, ինչպե՞ս եք: Հայերեն այբուբեն՝ ա բ գ դ ե զ է ը թ ժ ի լ խ ծ կ հ ձ ղ ճ մ յ ն շ ո չ պ ջ ռ ս վ տ ր ց ւ փ ք օ ֆ"],
    "hebrew": [
        "שלום עולם! מה שלומך? אני מדבר עברית.",
        "בְּרֵאשִׁית בָּרָא אֱלֹהִים אֵת הַשָּׁמַיִם וְאֵת הָאָרֶץ",
        "עברית with English mixed in: שלום hello עולם world 123",
    ],
    "arabic": [
        "مرحبا بالعالم! كيف حالك؟ أنا بخير، شكرا.",
        "بِسْمِ ٱللَّٰهِ ٱلرَّحْمَٰنِ ٱلرَّحِيمِ",
        "الأرقام العربية: ٠١٢٣٤٥٦٧٨٩ و ۰۱۲۳۴۵۶۷۸۹",
        "فارسی: سلام دنیا، حال شما چطور است؟ اردو: ہیلو دنیا، آپ کیسے ہیں؟",
        "ﷺ ﷻ ﻻ ﻷ presentation forms ﺍﺏﺕﺙ",
    ],
    "syriac_thaana_nko": ["ܫܠܡܐ ܥܠܡܐ", "ދިވެހި ބަސް", "ߒߞߏ ߞߊ߲"],
    "devanagari": [
        "नमस्ते दुनिया! आप कैसे हैं? मैं ठीक हूँ।",
        "संस्कृतम् भाषा: धर्मक्षेत्रे कुरुक्षेत्रे समवेता युयुत्सवः",
        "मराठी: तुम्ही कसे आहात? नेपाली: तपाईंलाई कस्तो छ?",
        "क्ष त्र ज्ञ श्र द्ध द्व ह्म ॐ ०१२३४५६७८९",
    ],
    "bengali": ["আমি বাংলায় গান গাই। কেমন আছেন? ০১২৩৪৫৬৭৮৯", "ক্ষ জ্ঞ ঞ্চ ন্ত্র র‍্যাব"],
    "gurmukhi_gujarati_oriya": ["ਸਤ ਸ੍ਰੀ ਅਕਾਲ, ਤੁਸੀਂ ਕਿਵੇਂ ਹੋ?", "કેમ છો? ગુજરાતી ભાષા", "ଓଡ଼ିଆ ଭାଷା, ନମସ୍କାର"],
    "tamil": ["வணக்கம் உலகம்! நீங்கள் எப்படி இருக்கிறீர்கள்?", "தமிழ் எழுத்துக்கள்: க் ங் ச் ஞ் ட் ண் ஸ்ரீ ௐ ௧௨௩"],
    "telugu_kannada_malayalam": [
        "నమస్కారం ప్రపంచం, మీరు ఎలా ఉన్నారు?",
        "ನಮಸ್ಕಾರ ಜಗತ್ತು, ನೀವು ಹೇಗಿದ್ದೀರಿ?",
        "നമസ്കാരം ലോകം, സുഖമാണോ? ൽ ൾ ൺ ർ",
    ],
    "sinhala": ["ආයුබෝවන් ලෝකය! ඔබට කොහොමද? ශ්‍රී ලංකාව"],
    "thai": ["สวัสดีชาวโลก! คุณสบายดีไหม? ภาษาไทยไม่มีช่องว่างระหว่างคำ", "๐๑๒๓๔๕๖๗๘๙ กรุงเทพมหานคร อมรรัตนโกสินทร์"],
    "lao": ["ສະບາຍດີ ໂລກ! ພາສາລາວ ເຈົ້າສະບາຍດີບໍ່?"],
    "tibetan": ["བཀྲ་ཤིས་བདེ་ལེགས། བོད་སྐད་ ༠༡༢༣", "ཨོཾ་མ་ཎི་པདྨེ་ཧཱུྃ།"],
    "myanmar": ["မင်္ဂလာပါ ကမ္ဘာ! နေကောင်းလား? ၀၁၂၃၄၅"],
    "khmer": ["សួស្តី​ពិភពលោក! តើ​អ្នក​សុខសប្បាយ​ទេ? ០១២៣"],
    "georgian": ["გამარჯობა მსოფლიო! როგორ ხარ? ქართული ენა", "ႠႡႢ ⴀⴁⴂ Ა Ბ Გ mtavruli"],
    "hangul": [
        "안녕하세요 세계! 잘 지내세요? 한국어는 재미있어요.",
        "ㄱㄴㄷㄹㅁㅂㅅㅇㅈㅊㅋㅌㅍㅎ ㅏㅑㅓㅕㅗㅛㅜㅠㅡㅣ 똠방각하 뷁",
        "각 conjoining jamo ᄒᆞᆫ",
    ],
    "japanese": [
        "こんにちは世界！お元気ですか？日本語のテキストです。",
        "カタカナ：コンピューター、インターネット、ヴァイオリン。ｶﾀｶﾅ半角ｶﾅ",
        "いろはにほへと ちりぬるを わかよたれそ つねならむ",
        "東京都渋谷区、令和五年、〒150-0002、ゟ ヿ 〼",
    ],
    "cjk": [
        "你好，世界！今天天气很好。我们去公园散步吧。",
        "繁體中文：臺灣、龜、鬱、麵。簡體中文：台湾、龟、郁、面。",
        "𠀀𠀁𠀂 𪚥 𩸽 𠮷野家 CJK extension B characters",
        "一二三四五六七八九十百千万亿 〇 壹贰叁",
        "㊀㊁㊂ ㈱ ㍿ ㌀ ㋿ 〆 々 〇",
    ],
    "ethiopic": ["ሰላም ለዓለም! እንደምን ነህ? ፩፪፫ ።"],
    "mongolian": ["ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ᠌ ᠰᠠᠶᠢᠨ ᠪᠠᠶᠢᠨ᠎ᠠ ᠤᠤ"],
    "cherokee": ["ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ ᎣᏏᏲ ꭰꭱꭲ"],
    "canadian_syllabics_ogham_runic": ["ᐊᐃᐅᐆ ᑭᓯ ᓄᓇᕗᑦ", "᚛ᚑᚌᚐᚋ᚜", "ᚠᚢᚦᚨᚱᚲ ᛟᛞ"],
    "historic": ["𐌰𐌱𐌲 gothic", "𓀀𓀁𓂀 hieroglyphs", "𒀀𒀁 cuneiform", "𐎀𐎁 ugaritic", "𐤀𐤁 phoenician"],
    "math": [
        "∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x|; ∑_{i=1}^{n} i = n(n+1)/2; ∫₀^∞ e^{−x} dx = 1",
        "𝔸𝔹ℂ 𝕒𝕓𝕔 𝐀𝐁𝐂 𝑎𝑏𝑐 𝒜ℬ𝒞 ∂∇∆ ∞ ≈ ≠ ≤ ≥ ⊂ ⊃ ∪ ∩ ∧ ∨ ¬ ⊕ ⊗ ℵ₀",
        "E = mc², H₂O, x⁽ⁿ⁾, ½ ⅓ ¼ ⅛ ⅞, ° ′ ″ ‰ ‱, ±∓×÷",
        "→ ← ↑ ↓ ↔ ⇐ ⇒ ⇔ ↦ ⟶ ⟹ ∎ □ ■ ● ○ ◆ ★ ☆",
    ],
    "symbols": [
        "€ £ ¥ ₹ ₽ ₩ ₿ ¢ $ ₺ ₴ ₦ ₫ — – ‐ … « » „ “ ” ‘ ’ ‹ › § ¶ † ‡ • © ® ™",
        "♠♣♥♦ ♩♪♫♬ ☀☁☂☃ ☎ ☑ ☒ ✓ ✔ ✗ ✘ ✂ ✈ ⌘ ⌥ ⎋ ⏎ ⌫",
        "┌─┬─┐ │ │ │ ├─┼─┤ └─┴─┘ ░▒▓█ ▀▄ ▌▐",
        "⠁⠃⠉⠙⠑ braille ⠓⠑⠇⠇⠕",
    ],
    "combining": [
        "e\u0301 a\u0300 o\u0308 n\u0303 c\u0327 — decomposed accents",
        "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333 zalgo",
        "a\u20dd b\u20de 1\ufe0f\u20e3 combining enclosing marks",
        "\u0301 leading combining mark",
    ],
    "format_chars": [
        "zero\u200bwidth\u200bspace",
        "zwnj\u200cand\u200dzwj",
        "left\u200eto\u200fright marks",
        "\u202aembedding\u202c \u202boverride rtl\u202c \u202doverride ltr\u202c \u202ertl\u202c",
        "\u2066isolate\u2069 \u2067rtl isolate\u2069 \u2068first strong\u2069",
        "\ufeffbyte order mark at start",
        "soft\u00adhyphen and word\u2060joiner",
        "\u2028line separator\u2029paragraph separator",
        "English then עברית then English again then العربية",
        "variation selectors: \u2764\ufe0e \u2764\ufe0f \u8fbb\U000e0100",
        "tag characters \U000e0041\U000e0042 \U000e007f",
    ],
}

EMOJI = [
    "😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃", "😉", "😊", "😇", "🥰", "😍", "🤩", "😘", "😗", "☺️",
    "😚", "😙", "🥲", "😋", "😛", "😜", "🤪", "😝", "🤑", "🤗", "🤭", "🤫", "🤔", "🤐", "🤨", "😐", "😑", "😶",
    "😶‍🌫️", "😏", "😒", "🙄", "😬", "😮‍💨", "🤥", "😌", "😔", "😪", "🤤", "😴", "😷", "🤒", "🤕", "🤢", "🤮",
    "🤧", "🥵", "🥶", "🥴", "😵", "😵‍💫", "🤯", "🤠", "🥳", "🥸", "😎", "🤓", "🧐", "😕", "🫤", "😟", "🙁", "☹️",
    "👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "👋🏽", "🙏🏿", "💪🏻", "🤝🏼", "✌🏾",
    "👨‍👩‍👧‍👦", "👩‍❤️‍💋‍👨", "👨‍💻", "👩🏽‍🚀", "🧑‍🤝‍🧑", "🏳️‍🌈", "🏳️‍⚧️", "🏴‍☠️", "👁️‍🗨️", "🐻‍❄️", "❤️‍🔥",
    "🇺🇸", "🇬🇧", "🇫🇷", "🇩🇪", "🇯🇵", "🇨🇳", "🇮🇳", "🇧🇷", "🇿🇦", "🇺🇦", "🇪🇺", "🇺🇳",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🏴󠁧󠁢󠁷󠁬󠁳󠁿", "#️⃣", "*️⃣", "0️⃣", "1️⃣", "🔟", "©️", "®️", "‼️", "⁉️", "™️",
    "🐶", "🐱", "🦊", "🐼", "🦁", "🐸", "🦄", "🐝", "🦋", "🌵", "🌸", "🍕", "🍣", "☕", "🍺", "⚽", "🏀", "🚀",
    "🛸", "⌚", "📱", "💻", "🖥️", "🎉", "🎂", "💯", "🔥", "✨", "⭐", "🌍", "🌈", "⚡", "❄️", "☔", "🫠", "🫶🏽", "🪿",
]

SPECIAL_TEXT = [
    "<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "[multimodal]", "<start_of_turn>", "<end_of_turn>",
    "<start_of_image>", "<end_of_image>", "<image_soft_token>", "<unused0>", "<unused1>", "<unused99>",
    "<unused6241>", "<unused6242>", "<unused99999>", "<unused>", "<unused-1>", "<start_of_tur", "start_of_turn>",
    "<<bos>>", "<bos", "bos>", "< bos>", "<BOS>", "<bos><bos>", "<eos><bos>", "<start_of_turn><end_of_turn>",
    "</start_of_turn>", "<start_of_turn>user", "<start_of_turn>model", "<end_of_turn>\n", "<image_soft_token" * 2,
    "<table>", "</table>", "<tr><td>1</td><td>2</td></tr>", "<h1>Title</h1>", "<strong>bold</strong>",
    "<em>em</em>", "<b>b</b><i>i</i><u>u</u><s>s</s>", "<sub>2</sub><sup>3</sup>", "<code>x = 1</code>",
    "<a>link</a>", "<html><body><div><span>x</span></div></body></html>", "<img>", "</img>", "<bbox>", "</bbox>",
    "<ul><li>one</li><li>two</li></ul>", "<iframe></iframe>", "<footer>f</footer>", "<blockquote>q</blockquote>",
    "<caption>c</caption><thead><tbody><tfoot>", "<th>h</th>", "<h2><h3><h4><h5><h6>", "<p>not added</p>",
    "<table class=\"x\">", "<td >", "< td>", "<TD>", "<<table>>", "<tabl", "<table", "<bbox>0 0 10 10</bbox>",
    "<[multimodal]>", "[multimodal", "multimodal]", "<0x41>", "<0xFF>", "<0x0A>", "<0x>", "<0xGG>",
    # Gemma's only merged token with a character before an inner "▁" is ">▁</": text where it can apply.
    "<p> </p>", "<x> </x>", "a> </b", "> </", ">  </", "<div class=\"a\"> </div>", "x >  </y>", "<<p> </p>>",
    "<p>▁</p>", "1 > 0 </", "<span> </span> <span> </span>",
]

CODE = [
    'def fib(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\nif __name__ == "__main__":\n    print(fib(10))\n',
    '#include <iostream>\n#include <vector>\n\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) x *= 2;\n\tstd::cout << v[0] << "\\n";\n\treturn 0;\n}\n',
    "const add = (a, b) => a + b;\nexport default function App() {\n  return <div className=\"app\">{add(1, 2)}</div>;\n}\n",
    "fn main() {\n    let s: &str = \"héllo\";\n    for (i, c) in s.char_indices() {\n        println!(\"{i}: {c:?}\");\n    }\n}\n",
    "SELECT u.id, COUNT(*) AS n\nFROM users u\nJOIN orders o ON o.user_id = u.id\nWHERE o.created_at >= '2024-01-01'\nGROUP BY u.id\nHAVING n > 3\nORDER BY n DESC;\n",
    "#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.txt; do\n  echo \"$f: $(wc -l < \"$f\")\"\ndone\n",
    '{"name": "gemma", "layers": 34, "ok": true, "list": [1, 2.5, -3e10, null], "nested": {"k": "v"}}',
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello, 世界\")\n}\n",
    "public class Hello {\n    public static void main(String[] args) {\n        System.out.println(\"Hello\");\n    }\n}\n",
    "\\begin{equation}\n  \\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}\n\\end{equation}\n",
    "x <- c(1, 2, 3)\nmean(x) %>% print()\n",
    "    indented with four spaces\n        eight spaces\n\t\ttwo tabs\n  \t mixed\n",
    "if (a && b || !c) { x += 1; y -= 2; z *= 3; w /= 4; q %= 5; } // comment /* block */",
    "<?php echo htmlspecialchars($_GET['q'] ?? '', ENT_QUOTES); ?>",
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>T</title></head>\n<body>\n  <p>Hi &amp; bye &lt;3</p>\n</body>\n</html>\n",
    "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n-print('a')\n+print('b')\n",
    "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)$",
    "ASCII art:\n  /\\_/\\\n ( o.o )\n  > ^ <\n",
]

MISC = [
    "https://www.example.com/path/to/page?query=1&lang=en#section-2",
    "http://localhost:8080/api/v1/users/42?fields=name,email",
    "ftp://ftp.example.org/pub/file.tar.gz", "mailto:someone@example.com", "user.name+tag@sub.example.co.uk",
    "https://ja.wikipedia.org/wiki/日本語", "https://xn--nxasmq6b.com/ünïcödé", "C:\\Users\\Name\\Documents\\file.txt",
    "/usr/local/lib/python3.11/site-packages/", "~/.config/gemma-tune/config.yaml", "192.168.0.1", "::1",
    "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "0123456789", "3.14159265358979323846", "-273.15", "6.022e23",
    "1,234,567.89", "1.234.567,89", "1 000 000", "0xDEADBEEF", "0b101010", "1e-10", "10^6", "50%", "$1,000,000.00",
    "2024-11-25T20:51:00Z", "25/11/2024", "11:59 PM", "+1 (555) 123-4567", "ISBN 978-3-16-148410-0",
    "123456789012345678901234567890123456789012345678901234567890",
    "Dr. Smith's patient, Mr. O'Brien, arrived at 3 p.m. — late, as usual...",
    "\"quoted\" 'single' `backtick` «guillemets» „German“ 「Japanese」 『double』",
    "!!!???...,,,;;;:::---___===+++***&&&%%%$$$###@@@^^^~~~|||\\\\\\///",
    "I'm, you're, he'll, they'd, won't, can't, shouldn't've, y'all",
    "CamelCaseIdentifier snake_case_identifier kebab-case-identifier SCREAMING_SNAKE",
    "e.g. i.e. etc. vs. U.S.A. Ph.D.", "Hello,World!How are you?Fine.", "tab\tseparated\tvalues\n1\t2\t3",
    "a,b,c\n1,2,3\n\"x,y\",z,\"q\"\"q\"", "line1\r\nline2\r\nline3", "cr only\rhere", "form\x0cfeed", "vertical\x0btab",
]

WORDS = (
    "the of and to in is was that for it with as his on be at by had are but from or have an they which one you were "
    "her all she there would their we him been has when who will more no if out so said what up its about into than "
    "them can only other new some could time these two may then do first any my now such like our over man me even "
    "most made after also did many before must through back years where much your way well down should because each "
    "just those people how too little state good very make world still own see men work long get here between both "
    "life being under never day same another know while last might us great old year off come since against go came "
    "right used take three language model training tokenizer gradient attention transformer parameter dataset loss "
    "learning rate batch epoch checkpoint inference quantization embedding vocabulary sequence encoder decoder"
).split()


def rand_words(rng, n):
    out = []
    for i in range(n):
        w = rng.choice(WORDS)
        if i == 0 or (out and out[-1].endswith(".")):
            w = w.capitalize()
        if rng.random() < 0.08:
            w += rng.choice([",", ".", ";", ":", "!", "?", "'s", ")", "\""])
        out.append(w)
    return " ".join(out)


def paragraph(rng, sentences):
    parts = []
    for _ in range(sentences):
        s = rand_words(rng, rng.randint(5, 25))
        parts.append(s[0].upper() + s[1:] + rng.choice([".", ".", ".", "!", "?"]))
    return " ".join(parts)


# Code point ranges for random strings, per script (surrogates are never generated).
RANGES = {
    "latin1": (0x00A0, 0x00FF), "latin_ext": (0x0100, 0x024F), "ipa": (0x0250, 0x02AF), "greek": (0x0370, 0x03FF),
    "cyrillic": (0x0400, 0x04FF), "armenian": (0x0531, 0x058A), "hebrew": (0x0591, 0x05F4), "arabic": (0x0600, 0x06FF),
    "syriac": (0x0700, 0x074F), "thaana": (0x0780, 0x07B1), "devanagari": (0x0900, 0x097F), "bengali": (0x0980, 0x09FE),
    "gurmukhi": (0x0A00, 0x0A76), "gujarati": (0x0A81, 0x0AFF), "tamil": (0x0B82, 0x0BFA), "telugu": (0x0C00, 0x0C7F),
    "kannada": (0x0C80, 0x0CF3), "malayalam": (0x0D00, 0x0D7F), "sinhala": (0x0D81, 0x0DF4), "thai": (0x0E01, 0x0E5B),
    "lao": (0x0E81, 0x0EDF), "tibetan": (0x0F00, 0x0FDA), "myanmar": (0x1000, 0x109F), "georgian": (0x10A0, 0x10FF),
    "hangul_jamo": (0x1100, 0x11FF), "ethiopic": (0x1200, 0x137C), "cherokee": (0x13A0, 0x13FD),
    "syllabics": (0x1400, 0x167F), "ogham": (0x1680, 0x169C), "runic": (0x16A0, 0x16F8), "khmer": (0x1780, 0x17F9),
    "mongolian": (0x1800, 0x18AA), "punct": (0x2000, 0x206F), "super_sub": (0x2070, 0x209C),
    "currency": (0x20A0, 0x20C0), "letterlike": (0x2100, 0x214F), "arrows": (0x2190, 0x21FF),
    "math_ops": (0x2200, 0x22FF), "box": (0x2500, 0x259F), "shapes": (0x25A0, 0x25FF), "misc_sym": (0x2600, 0x26FF),
    "dingbats": (0x2700, 0x27BF), "braille": (0x2800, 0x28FF), "cjk_punct": (0x3000, 0x303F),
    "hiragana": (0x3041, 0x309F), "katakana": (0x30A0, 0x30FF), "bopomofo": (0x3105, 0x312F),
    "cjk": (0x4E00, 0x9FFF), "yi": (0xA000, 0xA48C), "hangul": (0xAC00, 0xD7A3), "pua": (0xE000, 0xF8FF),
    "compat": (0xF900, 0xFAFF), "arabic_pres": (0xFB50, 0xFDFF), "halfwidth": (0xFF00, 0xFFEF),
    "specials": (0xFFF0, 0xFFFF), "linear_b": (0x10000, 0x100FA), "gothic": (0x10330, 0x1034A),
    "hieroglyphs": (0x13000, 0x1342E), "math_alnum": (0x1D400, 0x1D7FF), "emoji": (0x1F300, 0x1F64F),
    "emoji2": (0x1F900, 0x1F9FF), "cjk_ext_b": (0x20000, 0x2A6DF), "tags": (0xE0000, 0xE007F),
    "plane15": (0xF0000, 0xF00FF), "plane16": (0x10FF00, 0x10FFFF),
}

WHITESPACE = [" ", "\n", "\t", "\r", "\r\n", "\u00a0", "\u3000", "\u2002", "\u2009", "\u200b", "\u0085", "\u2028",
              "\x0b", "\x0c", "\u1680", "\u202f", "\u205f", "▁"]


def rand_cp(rng, lo, hi):
    while True:
        c = rng.randint(lo, hi)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def rand_script_string(rng, name, n):
    lo, hi = RANGES[name]
    return "".join(rand_cp(rng, lo, hi) if rng.random() > 0.15 else rng.choice(" .,\n") for _ in range(n))


def build(rng):
    out = []
    add = out.append

    # 1. Empty-ish strings and every single ASCII / Latin-1 character alone.
    for s in ["", " ", "  ", "\n", "\t", "\r", "▁", "▁▁", " ▁", "▁ ", "\u00a0", "\u3000", "a", "A", "0", "."]:
        add(s)
    for c in range(0x00, 0x100):
        if c != 0x20:
            add(chr(c))
    add("\u0085"), add("\u2028"), add("\u2029"), add("\ufeff"), add("\ufffd"), add("\uffff"), add("\U0010ffff")

    # 2. Hand-written samples, alone and with spaces around.
    for samples in SCRIPTS.values():
        for s in samples:
            add(s)
            add(" " + s + " ")
            add(s.replace(" ", "  "))
            add(s + "\n" + s)
    for s in CODE + MISC:
        add(s)
        add(s.replace("    ", "\t"))
    for e in EMOJI:
        add(e)
    for _ in range(80):
        add("".join(rng.choice(EMOJI) for _ in range(rng.randint(2, 12))))
        add(rand_words(rng, rng.randint(3, 10)) + " " + rng.choice(EMOJI) + rng.choice(["", " ", "!", "\n"]))

    # 3. Control characters, alone, repeated and inside words.
    controls = [chr(c) for c in range(0x20)] + ["\x7f", "\u0085", "\u2028", "\u2029"]
    for c in controls:
        add("a" + c + "b")
        add(c * 3)
        add("word" + c + " " + c + "word")

    # 4. Whitespace runs of many lengths, alone and between words, and mixed runs.
    for ws in [" ", "\n", "\t", "▁"]:
        for n in list(range(1, 41)) + [45, 50, 60, 61, 62, 63, 64, 65, 70, 80, 100, 127, 128, 200]:
            add(ws * n)
            add("x" + ws * n + "y")
            if n % 3 == 0:
                add(ws * n + "start")
                add("end" + ws * n)
    for _ in range(150):
        run = "".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 40)))
        add(rng.choice(["", "a", "word", "日本", "<bos>"]) + run + rng.choice(["", "b", "word", "عربي", "<eos>"]))
    for n in range(1, 12):
        add("\r\n" * n)
        add("\n \n" * n)
        add(" \n" * n)
        add("\n\t" * n)
        add("\t \t" * n)

    # 5. Special-token text, alone, inside text and combined.
    for s in SPECIAL_TEXT:
        add(s)
        add("x" + s + "y")
        add(" " + s + " ")
        add(s + "\n" + s)
    for _ in range(120):
        parts = [rng.choice(SPECIAL_TEXT + ["hello", " ", "\n", "world", "▁", "  ", "\n\n", "\t"]) for _ in range(rng.randint(2, 8))]
        add("".join(parts))
    for i in [0, 1, 7, 10, 42, 99, 100, 500, 999, 1000, 4242, 6000, 6241, 6242, 7000, 10000]:
        add(f"<unused{i}>")
        add(f"text<unused{i}>text")
    turns = [("user", "What is the capital of France?"), ("model", "Paris."), ("user", "Why?\n\nExplain  briefly."),
             ("model", "Because it is.\n")]
    chat = "".join(f"<start_of_turn>{r}\n{t}<end_of_turn>\n" for r, t in turns)
    add(chat), add("<bos>" + chat), add(chat + "<start_of_turn>model\n")
    add("<start_of_image><image_soft_token><image_soft_token><end_of_image>Describe the image.")

    # 6. Literal "▁" in many positions.
    for s in ["▁hello", "hello▁", "he▁llo", "▁▁hello", "hello ▁world", "▁ ▁ ▁", " ▁▁ ", "▁\n▁", "▁\t▁", "a▁▁▁b",
              "▁" * 31, "▁" * 32, " " * 31 + "▁", "▁the▁quick▁brown▁fox", "__init__ ▁_▁"]:
        add(s)

    # 7. Numbers.
    for _ in range(120):
        k = rng.randint(1, 40)
        add("".join(rng.choice("0123456789") for _ in range(k)))
        add(f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 8)}f}")
        add(f"{rng.randint(0, 10**9):,}")

    # 8. Random strings from each script's code point range.
    for name in RANGES:
        for _ in range(12):
            add(rand_script_string(rng, name, rng.randint(1, 60)))
    # Random code points from the whole range.
    for _ in range(150):
        add("".join(rand_cp(rng, 0, 0x10FFFF) for _ in range(rng.randint(1, 30))))
    for _ in range(150):
        add("".join(rand_cp(rng, 0, 0x2FFF) for _ in range(rng.randint(1, 50))))
    for _ in range(100):
        add("".join(rand_cp(rng, 0x20, 0x7E) for _ in range(rng.randint(1, 80))))

    # 9. Very long words.
    for ch in ["a", "ab", "abc", "x", "0", "1", "9", "日", "é", "😀", "\u0301", "<", ">", "=", "-", "_", ".", "!", "▁a"]:
        for n in [10, 100, 1000, 3000]:
            add(ch * n)
    for n in [200, 1000, 3000, 5000, 8000]:
        add("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)))
        add("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(n)))
        add("".join(rng.choice(WORDS) for _ in range(n // 5)))  # words glued without spaces
        add("".join(rand_cp(rng, 0x4E00, 0x9FFF) for _ in range(n // 3)))
    add("Pneumonoultramicroscopicsilicovolcanoconiosis " * 20)
    add("Supercalifragilisticexpialidocious" * 50)

    # 10. Paragraphs, from short to long (a paragraph with no newline is one BPE word for Gemma).
    for _ in range(200):
        add(paragraph(rng, rng.randint(1, 6)))
    for _ in range(40):
        add(paragraph(rng, rng.randint(20, 80)))
    for _ in range(5):
        add(paragraph(rng, 300))
    for _ in range(30):
        add("\n\n".join(paragraph(rng, rng.randint(2, 8)) for _ in range(rng.randint(2, 6))))

    # 11. Mixed everything.
    pools = [s for v in SCRIPTS.values() for s in v] + EMOJI + SPECIAL_TEXT + CODE + MISC + WHITESPACE
    for _ in range(600):
        n = rng.randint(2, 10)
        pieces = []
        for _ in range(n):
            r = rng.random()
            if r < 0.5:
                pieces.append(rng.choice(pools))
            elif r < 0.7:
                pieces.append(rand_words(rng, rng.randint(1, 8)))
            elif r < 0.85:
                pieces.append(rand_script_string(rng, rng.choice(list(RANGES)), rng.randint(1, 15)))
            else:
                pieces.append(rng.choice(WHITESPACE) * rng.randint(1, 6))
        add(rng.choice(["", " ", "\n"]).join(pieces))
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "tokenizer", "corpus.jsonl")
    strings = build(random.Random(SEED))
    seen = set()
    lines = []
    for s in strings:
        if s in seen:
            continue
        seen.add(s)
        lines.append(json.dumps({"text": s}, ensure_ascii=False))
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} strings to {out_path}")


if __name__ == "__main__":
    main()
