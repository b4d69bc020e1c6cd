"""Regenerates Sources/YOPOPruning/OfficialHeadMasks.swift from the official YOPO .npy head masks."""
import glob
import os
import sys

import numpy as np

from common import REPO, SHARED

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SHARED, "yopo-official", "headmask")
out = os.path.join(REPO, "Sources", "YOPOPruning", "OfficialHeadMasks.swift")
lines = ['// Generated from the official YOPO head masks (shared/yopo-official/headmask/*.npy,',
         '// https://github.com/ZhangAIPI/YOPO_MLLM_Pruning commit f0783f4, LLaVA/headmask/, unchanged).',
         '// Copyright (c) 2024 Zeliang Zhang, MIT License: see LICENSE-yopo-official in this folder.',
         '// Regenerate with Tools/reference/make_headmask_swift.py. One string per decoder layer,',
         '// one character per attention head, "1" = keep (True in the .npy).',
         '',
         'enum OfficialHeadMaskData {',
         '    /// File stem (`headmask_7b_16`) → rows.',
         '    static let masks: [String: [String]] = [']
for f in sorted(glob.glob(os.path.join(src, "*.npy"))):
    m = np.load(f)
    lines.append('        "%s": [' % os.path.basename(f)[:-4])
    lines += ['            "%s",' % "".join("1" if x else "0" for x in row) for row in m]
    lines.append('        ],')
lines += ['    ]', '}', '']
open(out, "w").write("\n".join(lines))
