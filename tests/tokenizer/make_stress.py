#!/usr/bin/env python3
"""tests/tokenizer/make_stress.py - write the Unicode stress corpus stress.txt.

    python3 tests/tokenizer/make_stress.py > tests/tokenizer/stress.txt

The corpus exercises every branch of GPT-2's pre-tokenisation pattern
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
and the byte-level BPE on many writing systems. Escapes keep the invisible
characters visible here. It deliberately avoids the characters on which the
reference tokenisers (JavaScript regexes, Unicode 17 in node 20) and our
tables (Unicode 15.0, White_Space as in tiktoken's Rust regex) disagree:
U+0085 and U+FEFF (JavaScript's \\s differs from Unicode's White_Space) and
code points assigned after Unicode 15.0. tests/tokenizer/check_classes.js
lists those disagreements.
Deterministic: the same file on every run (the random part has a fixed seed).
"""
import itertools
import random
import sys

out = []
add = out.append

# 1. scripts: letters, with ordinary spacing and punctuation
add("English: The quick brown fox jumps over the lazy dog. Isn't it?\n")
add("Français: Où est la boulangerie ? L'été, c'est déjà là — « très » bien.\n")
add("Deutsch: Größere Straßenbahnhaltestelle, ÄÖÜ äöü ß ẞ.\n")
add("Magyar: Pálinka, őszibarack, űrhajó; Tiếng Việt: Xin chào, cảm ơn bạn.\n")
add("Polski: Zażółć gęślą jaźń. Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy.\n")
add("Ελληνικά: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. ΑΒΓΔ αβγδ ς.\n")
add("Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. Ёё.\n")
add("Українська: Ґанок, їжак, єнот. Српски: Ђурђевдан. Македонски: Ѓѕќ.\n")
add("Հայերեն: Բարեւ աշխարհ։ ქართული: გამარჯობა მსოფლიო.\n")
add("עברית: שָׁלוֹם עוֹלָם, ספר. العربية: مرحبا بالعالم، كيف حالك؟ فارسی: سلام دنیا.\n")
add("हिन्दी: नमस्ते दुनिया। বাংলা: ওহে বিশ্ব। ਪੰਜਾਬੀ: ਸਤ ਸ੍ਰੀ ਅਕਾਲ। ગુજરાતી: નમસ્તે.\n")
add("தமிழ்: வணக்கம் உலகம். తెలుగు: హలో ప్రపంచం. ಕನ್ನಡ: ನಮಸ್ಕಾರ. മലയാളം: നമസ്കാരം.\n")
add("ไทย: สวัสดีชาวโลก ภาษาไทย. ລາວ: ສະບາຍດີ. ខ្មែរ: សួស្តីពិភពលោក. မြန်မာ: မင်္ဂလာပါ.\n")
add("བོད་ཡིག: བཀྲ་ཤིས་བདེ་ལེགས། ᠮᠣᠩᠭᠣᠯ: ᠰᠠᠢᠨ ᠪᠠᠢᠨ᠎ᠠ᠋ᠤ.\n")
add("中文：你好，世界！漢字、简体字。日本語：こんにちは世界、カタカナ、ｶﾀｶﾅ。\n")
add("한국어: 안녕하세요 세계. ᄀᄁᄂ ㄱㄲㄴ. ꯃꯩꯇꯩ: ꯍꯦꯜꯂꯣ.\n")
add("አማርኛ: ሰላም ልዑል። ᏣᎳᎩ: ᎣᏏᏲ. ᐃᓄᒃᑎᑐᑦ: ᐊᐃᖓᐃ. ᚠᚢᚦᚨᚱᚲ ᚛ᚑᚌᚐᚋ᚜.\n")
add("𐌰𐌱𐌲 Gothic, 𐐀𐐨 Deseret, 𓀀𓀁 hieroglyphs, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝 math letters.\n")
add("Mixed: abcДЕЖαβγ日本abc١٢٣x, ﬁﬂ ligatures, Ǆǅǆ titlecase, ʰʲ modifiers, ªº.\n")

# 2. numbers of many systems: Nd, Nl, No
add("Digits: 0123456789 ٠١٢٣٤٥٦٧٨٩ ۰۱۲۳ ०१२३४५६७८९ ০১২৩ ๐๑๒๓ ༠༡༢ ០១២ ၀၁၂ ０１２３ 𝟎𝟏𝟐 𝟘𝟙𝟚.\n")
add("Letter numbers: ⅠⅡⅢⅣⅫ ⅰⅱⅲ 〇〡〢〣 ᛮᛯᛰ 𐅀𐅁.\n")
add("Other numbers: ²³¹ ¼½¾ ⅓⅔ ①②③ ⑴⑵ ⒈⒉ ❶❷ ㈠㈡ ፩፪፫ ௰௱ ༳ 𐄇𐄈.\n")
add("Mixed runs: 123abc abc123 1,234,567.89 3.14159 -42 +7 1e10 0x1F 2nd 3rd 4th 100%.\n")
add("Year 2024 and ١٩٨٤ and १९४७; phone +36 (1) 555-0199; ISBN 978-3-16-148410-0.\n")

# 3. combining marks (decomposed), which are neither letters nor numbers
add("Combining: e\u0301 a\u0300 o\u0308 n\u0303 c\u0327 A\u030A u\u0308\u0301 x\u0336\u0336 Z\u0351\u0364\u036B.\n")
add("Zalgo: H\u0336\u0357e\u0335\u0308l\u0334\u0301l\u0337o\u0338 and q\u0323\u0307 and 1\u20E3 2\u20E3.\n")
add("Devanagari marks: क\u093F क\u094D\u0937 ह\u093F\u0928\u094D\u0926\u0940; Hebrew: ב\u05BC\u05B8; Arabic: ب\u064E\u0651.\n")
add("Vietnamese decomposed: Tie\u0302\u0301ng Vie\u0323\u0302t.\n")

# 4. emoji: single, with skin tones, ZWJ sequences, flags, keycaps, variation selectors
add("Emoji: 😀 😃😄 🙂 ❤️ ❤ ✨ 🔥🔥🔥 👍 👍🏻 👍🏿 🤌🏽.\n")
add("ZWJ: 👨\u200D👩\u200D👧\u200D👦 👩\u200D💻 🧑\u200D🤝\u200D🧑 🏳\uFE0F\u200D🌈 🏴\u200D☠\uFE0F 👁\uFE0F\u200D🗨\uFE0F.\n")
add("Flags: 🇭🇺 🇺🇸🇯🇵 🇪🇺; tag flag: 🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F; keycaps: #\uFE0F\u20E3 *\uFE0F\u20E3 7\uFE0F\u20E3.\n")
add("Emoji next to text: hello😀world 😀hello 123😀456 '😀' \"👍\" a👨\u200D👩\u200D👧b.\n")

# 5. contractions: GPT-2 knows only lower-case 's 't 're 've 'm 'll 'd
for suffix in ["s", "t", "re", "ve", "m", "ll", "d"]:
    cases = sorted({"".join(c) for c in itertools.product(*[(ch.lower(), ch.upper()) for ch in suffix])})
    for c in cases:
        add(f"it'{c} X'{c} 1'{c} '{c} ''{c} '{c}'{c} '{c}x ?'{c} don'{c}. ")
    add("\n")
add("Curly: it\u2019s don\u2019t we\u2019re I\u2019ve I\u2019m you\u2019ll he\u2019d \u2018quoted\u2019 \u201cdouble\u201d.\n")
add("Edge: ' '' ''' 's's's 'sss 'lll 'rere 'veve 'dd 'mm 'tt 'x ' s ' re I'M YOU'RE WE'VE.\n")
add("<|endoftext|> is plain text here, and so is <|endoftext|><|endoftext|> and <|end|>.\n")

# 6. white space: runs of spaces, tabs, CR/LF, no-break and other Unicode spaces
add("one space, two  spaces, three   spaces, ten          spaces.\n")
add("tab\tx\t\ty \t z\t \tw \t\n")
add("crlf line\r\nnext line\r\n\r\nafter blank\rlone cr\n\nlf lf\n\n\nthree\n")
add("trailing spaces   \ntrailing tabs\t\t\nmixed \t \r\n \n\t\n")
add("no\u00A0break\u00A0\u00A0space, narrow\u202Fno-break, ideographic\u3000space, ogham\u1680mark.\n")
add("en\u2002em\u2003three-per-em\u2004thin\u2009hair\u200Afigure\u2007punct\u2008six\u2006four\u2005quad\u2000\u2001.\n")
add("math\u205Fspace, line\u2028separator, paragraph\u2029separator, vt\u000Bff\u000Cend.\n")
add("space before nbsp \u00A0x, nbsp before space\u00A0 x, run \u00A0 \u2003 \u3000 y.\n")
add("zero-width\u200Bspace and word\u2060joiner and soft\u00ADhyphen are not white space.\n")
add("   leading spaces, then \n   indented line\n\t\tindented by tabs\n")

# 7. punctuation, symbols, code
add("Punctuation: !!! ??? ... … -- --- — – ‐ ‒ ¡¿ ‼ ⁇ «» ‹› „“ ‚‘ 「」『』【】〔〕 ·•◦ §¶ †‡ ※.\n")
add("Symbols: $5 €10 £20 ¥30 ₹40 ₿ ¢ © ® ™ ° ± × ÷ √ ∞ ≠ ≤ ≥ ∑ ∫ ∂ ∇ ∈ ∀ ∃ ← → ↑ ↓ ⇒ ♠♣♥♦ ♪♫ ☃ ☂.\n")
add("Box: ┌──┬──┐ │a │b │ └──┴──┘ ░▒▓█ ▲▼◆●.\n")
add("Code: int main(void) { return x->y[i] != 0 && a <= b || c >= d; } // ok\n")
add("    if (x == 1) {\n        printf(\"%d\\n\", x);\n    }\n")
add("URL: https://example.com/path?q=a+b&x=%20#frag email: someone@example.org @user #tag.\n")
add("JSON: {\"key\": [1, 2.5, -3e4, true, null], \"s\": \"a\\\"b\"} <tag attr='v'/> &amp;\n")
add("Runs: ________ ======== ******** ######## -------- ~~~~ ^^^^ |||| \\\\\\\\ //// .... ,,,,\n")

# 8. every pair and triple of small atoms: the transitions of the pattern
atoms = ["a", "Z", "é", "ж", "中", "7", "٣", "Ⅻ", "½", ".", "'", "'s", "'S", "😀",
         "e\u0301", " ", "  ", "\t", "\n", "\r\n", "\u00A0", "\u3000", "-", "\""]
for a, b in itertools.product(atoms, repeat=2):
    add(a + b + "|")
add("\n")
rng = random.Random(20240501)
for _ in range(3000):
    add("".join(rng.choice(atoms) for _ in range(rng.randint(1, 6))))
    add(rng.choice(["|", " ", "\n", "x"]))
add("\n")

# 9. long runs: one long word, long digits, long white space, long symbol run
add("Long: " + "abcdefghij" * 30 + " " + "0123456789" * 20 + " " + "!?" * 50 + "\n")
add("Spaces:" + " " * 100 + "x" + "\t" * 20 + "y" + "\n" * 12)
add("Pneumonoultramicroscopicsilicovolcanoconiosis Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch.\n")
add("The end, with trailing white space and no final newline:  \t ")

sys.stdout.write("".join(out))
