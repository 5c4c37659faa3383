import subprocess
import sys


def test_import_loads_no_estimator_dependencies():
    # `import gdcore` stays light: scikit-learn (and SciPy's BLAS threads) load only when an
    # estimator is first used.
    code = (
        "import sys, gdcore\n"
        "assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules, 'loaded early'\n"
        "assert 'matplotlib' not in sys.modules\n"
        "cls = gdcore.SGDClassifier\n"
        "assert gdcore.MLPClassifier.__module__ == 'gdcore.neural_network'\n"
        "assert cls.__module__ == 'gdcore.linear_model'\n"
        "assert gdcore.linear_model.SGDRegressor is gdcore.SGDRegressor\n"
        "assert 'SGDClassifier' in dir(gdcore)\n"
        "try:\n"
        "    gdcore.no_such_name\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_name' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unreadable_isa_override_warns_at_import():
    import os

    code = "import warnings; warnings.simplefilter('error'); import gdcore"
    env = dict(os.environ, GDCORE_ISA="bogus")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "GDCORE_ISA='bogus' is not a SIMD path" in run.stderr
    env["GDCORE_ISA"] = "baseline"  # a real path: no warning
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
