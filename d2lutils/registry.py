"""Every dataset file the book uses: sha256 and upstream URLs (from shared/data/MANIFEST.tsv).

The book's own repository (``data/``) is tried as a further mirror, see ``hub.py``.
"""
from __future__ import annotations

# name (path under data/) -> (sha256, upstream URLs in the order tried, licence)
REGISTRY_ENTRIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    'FashionMNIST/raw/t10k-images-idx3-ubyte.gz': (
        '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073',
        ('http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz',),
        'MIT (Zalando SE 2017)'),
    'FashionMNIST/raw/t10k-labels-idx1-ubyte.gz': (
        '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5',
        ('http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz',),
        'MIT (Zalando SE 2017)'),
    'FashionMNIST/raw/train-images-idx3-ubyte.gz': (
        '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84',
        ('http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz',),
        'MIT (Zalando SE 2017)'),
    'FashionMNIST/raw/train-labels-idx1-ubyte.gz': (
        'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845',
        ('http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz',),
        'MIT (Zalando SE 2017)'),
    'MNIST/raw/t10k-images-idx3-ubyte.gz': (
        '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
        ('http://yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz', 'https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz'),
        'CC BY-SA 3.0 (Y. LeCun, C. Cortes)'),
    'MNIST/raw/t10k-labels-idx1-ubyte.gz': (
        'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
        ('http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz', 'https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz'),
        'CC BY-SA 3.0 (Y. LeCun, C. Cortes)'),
    'MNIST/raw/train-images-idx3-ubyte.gz': (
        '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
        ('http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz', 'https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz'),
        'CC BY-SA 3.0 (Y. LeCun, C. Cortes)'),
    'MNIST/raw/train-labels-idx1-ubyte.gz': (
        '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
        ('http://yann.lecun.com/exdb/mnist/train-labels-idx1-ubyte.gz', 'https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz'),
        'CC BY-SA 3.0 (Y. LeCun, C. Cortes)'),
    'aclImdb_tiny.zip': (
        '556e7340b08cdd0aa827db7d64868d0326d0b79160659d6753dce1afbdfe6e6a',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/d5a06b8ca26b241029019727a8de1290da855dd4/data/aclImdb_tiny.zip',),
        'Large Movie Review Dataset (Maas et al. 2011); no explicit licence, research use'),
    'airfoil_self_noise.dat': (
        '74c75fd71783f1e6b71f8a622b993dc592897a97cd689c5090a07147a1b097b3',
        ('http://d2l-data.s3-accelerate.amazonaws.com/airfoil_self_noise.dat',),
        'CC BY 4.0 (UCI ML Repository, Airfoil Self-Noise)'),
    'fra-eng.zip': (
        'fa96382b2c8b609e1662654c1e6e6baeb8d30b3bf63dfb4a5a261cc36347df13',
        ('http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip',),
        'CC BY 2.0 FR (Tatoeba via manythings.org/anki)'),
    'img/autumn-oak.jpg': (
        'a277e6926333bcb06f8fa7e68d24e4d3027ecb87802227ed4b514ab1906af557',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/master/img/autumn-oak.jpg',),
        'Apache-2.0 (d2l-zh repository licence)'),
    'img/banana.jpg': (
        '2e1f327573bde0fc18c1fafe6f314a192904e33dc4302a8b7a72ea89a97c20ec',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/master/img/banana.jpg',),
        'Apache-2.0 (d2l-zh repository licence)'),
    'img/cat1.jpg': (
        'be3040de58a5c818a725f03b5acc281423a6ed7fa1e58b2f94f60034656e600b',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/master/img/cat1.jpg',),
        'Apache-2.0 (d2l-zh repository licence)'),
    'img/catdog.jpg': (
        '7580ea4555a01bc18c3e1a21ae6b8099026634034a8a08b4fe443fbc9f849dd2',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/master/img/catdog.jpg',),
        'Apache-2.0 (d2l-zh repository licence)'),
    'img/rainier.jpg': (
        '014381e94081625e5e5279fd81f50d01b75ebf10f1e85189d66e2fc93adbc768',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/master/img/rainier.jpg',),
        'Apache-2.0 (d2l-zh repository licence)'),
    'kaggle_cifar10_v1/test_tiny.zip': (
        '79dcd38df5e5c014407b61cb35624f63ee696239e1952dc2f8138c32fd31c3ff',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/11ac99367f88cd3ecd2d837001a765cfda8499c5/data/kaggle_cifar10/test_tiny.zip',),
        'CIFAR-10 (A. Krizhevsky 2009) via Kaggle CIFAR-10 competition; no explicit licence'),
    'kaggle_cifar10_v1/trainLabels.csv.zip': (
        '96d621607bba97d83ae7fac5b2f94bee91e50f4d9be00453e77313459c865b61',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/11ac99367f88cd3ecd2d837001a765cfda8499c5/data/kaggle_cifar10/trainLabels.csv.zip',),
        'CIFAR-10 (A. Krizhevsky 2009) via Kaggle CIFAR-10 competition; no explicit licence'),
    'kaggle_cifar10_v1/train_tiny.zip': (
        '5db5f98af804a2d503503004b445c7b7998adc0554170c1ebc36e4f467562cd1',
        ('https://raw.githubusercontent.com/d2l-ai/d2l-zh/11ac99367f88cd3ecd2d837001a765cfda8499c5/data/kaggle_cifar10/train_tiny.zip',),
        'CIFAR-10 (A. Krizhevsky 2009) via Kaggle CIFAR-10 competition; no explicit licence'),
    'kaggle_house_pred_test.csv': (
        '8fdd3d829d4d986b58f845c9553b225e67dd8383624d90fb6ca1d4bed5798c1e',
        ('http://d2l-data.s3-accelerate.amazonaws.com/kaggle_house_pred_test.csv',),
        'Kaggle House Prices competition data (Ames Housing, D. De Cock 2011), redistributed by D2L; Kaggle competition terms'),
    'kaggle_house_pred_train.csv': (
        '1e18addf81e5e4d347cc17ee6075bbe4a42b7fa26b9e5b063e8f692a5f929d41',
        ('http://d2l-data.s3-accelerate.amazonaws.com/kaggle_house_pred_train.csv',),
        'Kaggle House Prices competition data (Ames Housing, D. De Cock 2011), redistributed by D2L; Kaggle competition terms'),
    'ptb.zip': (
        '310d8f602882a5716613815ed75596e5764ea84ed04c5630eebaaf2b943ec5aa',
        ('http://d2l-data.s3-accelerate.amazonaws.com/ptb.zip',),
        'Penn Treebank (Mikolov preprocessing); LDC terms, redistributed by D2L'),
    'timemachine.txt': (
        '8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516',
        ('http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt',),
        'Public domain (H. G. Wells, The Time Machine, via Project Gutenberg)'),
    'wikitext-2-partial/test.txt': (
        'd790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0',
        (),
        'CC BY-SA 3.0 (WikiText, Merity et al. 2016)'),
    'wikitext-2-partial/valid.txt': (
        'f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8',
        (),
        'CC BY-SA 3.0 (WikiText, Merity et al. 2016)'),
}
