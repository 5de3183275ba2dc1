# The OCR languages: Tesseract codes of the language data installed (Debian's tesseract-ocr-LANG
# packages, by the top Makefile's .tools/tesseract.ok: `make tools`, CI, `make up`, the build
# machine) and shipped in the OcrDataLayer (./Makefile). Included by both Makefiles, so this line
# is the one list; OCR_LANGUAGES' default (functions/core/docsum/platform/settings.py) names the
# same codes in the order Tesseract gets them, and tests/unit/test_ocr.py fails when they differ.
OCR_LANGUAGE_FILES := eng deu fra spa
TESSDATA ?= /usr/share/tesseract-ocr/5/tessdata
