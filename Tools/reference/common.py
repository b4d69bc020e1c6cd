"""Shared helpers for the reference fixture scripts (pinned in requirements.txt)."""
import json
import os
import shutil
import tempfile

SHARED = os.environ.get("YOPO_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")
SPM_MODEL = os.path.join(SHARED, "tokenizers", "llama-spm", "tokenizer.model")

IMAGE_TOKEN = "<image>"
IMAGE_TOKEN_INDEX_HF = 32000
PAD_TOKEN_INDEX_HF = 32001
IMAGE_TOKEN_INDEX_ORIGINAL = -200


def write_hf_tokenizer(out_dir: str) -> None:
    """Writes the llava-hf tokenizer files (tokenizer.json + tokenizer_config.json) the way
    transformers 5.24 does when converting the LLaMA `tokenizer.model` and adding `<image>`
    (32000) and `<pad>` (32001) as special tokens, as llava-hf's processor does. The result uses
    a Metaspace pre-tokenizer with prepend_scheme "first" (no dummy prefix after `<image>`)."""
    from transformers import AutoTokenizer

    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(SPM_MODEL, os.path.join(tmp, "tokenizer.model"))
        with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "LlamaTokenizer", "legacy": False, "add_bos_token": True,
                       "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                       "unk_token": "<unk>"}, f)
        tok = AutoTokenizer.from_pretrained(tmp)
        tok.add_tokens([IMAGE_TOKEN], special_tokens=True)
        tok.add_special_tokens({"pad_token": "<pad>"})
        assert tok.convert_tokens_to_ids([IMAGE_TOKEN, "<pad>"]) == [IMAGE_TOKEN_INDEX_HF, PAD_TOKEN_INDEX_HF]
        tok.save_pretrained(out_dir)


# llava-hf chat template (written for this project from the documented behaviour, REFERENCE.md
# §3.2): no system prompt of its own; each non-system turn is "ROLE: ", one "<image>\n" per image
# item, then each text item followed by a space; the generation prompt is "ASSISTANT:".
LLAVA_HF_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] != 'system' -%}{{ message['role'].upper() + ': ' }}{%- endif -%}"
    "{%- if message['content'] is string -%}{{ message['content'] + ' ' }}"
    "{%- else -%}"
    "{%- for item in message['content'] | selectattr('type', 'equalto', 'image') -%}{{ '<image>\\n' }}{%- endfor -%}"
    "{%- for item in message['content'] | selectattr('type', 'equalto', 'text') -%}{{ item['text'] + ' ' }}{%- endfor -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)
