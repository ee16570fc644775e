"""Typed errors and the single exception -> CK_RV mapping.

Code below ``craton_hsm.abi`` never returns status codes: it raises a
``CKRError`` subclass and the ABI guard turns it into ``exc.rv``
(PKCS#11 v3.0 section 5.1, "Function return values").  Messages name the
cause for logs; they never carry key bytes or PINs.
"""

from __future__ import annotations

from craton_hsm._generated_ck import CKR


class CKRError(Exception):
    """An error that maps to one CK_RV value."""

    rv: int = CKR.GENERAL_ERROR

    def __init__(self, rv: int | str | None = None, msg: str = "") -> None:
        if isinstance(rv, str):
            msg = rv
        elif rv is not None:
            self.rv = int(rv)
        super().__init__(msg or _name(self.rv))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_name(self.rv)}: {self})"


def _name(rv: int) -> str:
    try:
        return "CKR_" + CKR(rv).name
    except ValueError:
        return f"CKR_0x{rv:08x}"


def rv_name(rv: int) -> str:
    """``CKR_PIN_INCORRECT`` for 0xa0; used by logs, audit and tests."""
    return _name(rv)


def rv_of(exc: BaseException) -> int:
    """The only translation of an exception into a CK_RV."""
    if isinstance(exc, CKRError):
        return exc.rv
    if isinstance(exc, MemoryError):
        return int(CKR.HOST_MEMORY)
    return int(CKR.GENERAL_ERROR)


def _kind(rv: CKR) -> type[CKRError]:
    return type(rv.name, (CKRError,), {"rv": int(rv)})


# Named subclasses for the codes the code base raises; ``except`` clauses and
# tests refer to them by name (python-pkcs11 style).
ActionProhibited = _kind(CKR.ACTION_PROHIBITED)
ArgumentsBad = _kind(CKR.ARGUMENTS_BAD)
AttributeReadOnly = _kind(CKR.ATTRIBUTE_READ_ONLY)
AttributeSensitive = _kind(CKR.ATTRIBUTE_SENSITIVE)
AttributeTypeInvalid = _kind(CKR.ATTRIBUTE_TYPE_INVALID)
AttributeValueInvalid = _kind(CKR.ATTRIBUTE_VALUE_INVALID)
BufferTooSmall = _kind(CKR.BUFFER_TOO_SMALL)
CantLock = _kind(CKR.CANT_LOCK)
CryptokiAlreadyInitialized = _kind(CKR.CRYPTOKI_ALREADY_INITIALIZED)
CryptokiNotInitialized = _kind(CKR.CRYPTOKI_NOT_INITIALIZED)
CurveNotSupported = _kind(CKR.CURVE_NOT_SUPPORTED)
DataInvalid = _kind(CKR.DATA_INVALID)
DataLenRange = _kind(CKR.DATA_LEN_RANGE)
DeviceError = _kind(CKR.DEVICE_ERROR)
DeviceMemory = _kind(CKR.DEVICE_MEMORY)
DomainParamsInvalid = _kind(CKR.DOMAIN_PARAMS_INVALID)
EncryptedDataInvalid = _kind(CKR.ENCRYPTED_DATA_INVALID)
EncryptedDataLenRange = _kind(CKR.ENCRYPTED_DATA_LEN_RANGE)
FunctionNotSupported = _kind(CKR.FUNCTION_NOT_SUPPORTED)
GeneralError = _kind(CKR.GENERAL_ERROR)
KeyFunctionNotPermitted = _kind(CKR.KEY_FUNCTION_NOT_PERMITTED)
KeyHandleInvalid = _kind(CKR.KEY_HANDLE_INVALID)
KeyIndigestible = _kind(CKR.KEY_INDIGESTIBLE)
KeyNotWrappable = _kind(CKR.KEY_NOT_WRAPPABLE)
KeySizeRange = _kind(CKR.KEY_SIZE_RANGE)
KeyTypeInconsistent = _kind(CKR.KEY_TYPE_INCONSISTENT)
KeyUnextractable = _kind(CKR.KEY_UNEXTRACTABLE)
MechanismInvalid = _kind(CKR.MECHANISM_INVALID)
MechanismParamInvalid = _kind(CKR.MECHANISM_PARAM_INVALID)
ObjectHandleInvalid = _kind(CKR.OBJECT_HANDLE_INVALID)
OperationActive = _kind(CKR.OPERATION_ACTIVE)
OperationNotInitialized = _kind(CKR.OPERATION_NOT_INITIALIZED)
PinIncorrect = _kind(CKR.PIN_INCORRECT)
PinInvalid = _kind(CKR.PIN_INVALID)
PinLenRange = _kind(CKR.PIN_LEN_RANGE)
PinLocked = _kind(CKR.PIN_LOCKED)
SessionClosed = _kind(CKR.SESSION_CLOSED)
SessionCount = _kind(CKR.SESSION_COUNT)
SessionExists = _kind(CKR.SESSION_EXISTS)
SessionHandleInvalid = _kind(CKR.SESSION_HANDLE_INVALID)
SessionParallelNotSupported = _kind(CKR.SESSION_PARALLEL_NOT_SUPPORTED)
SessionReadOnly = _kind(CKR.SESSION_READ_ONLY)
SessionReadOnlyExists = _kind(CKR.SESSION_READ_ONLY_EXISTS)
SessionReadWriteSoExists = _kind(CKR.SESSION_READ_WRITE_SO_EXISTS)
SignatureInvalid = _kind(CKR.SIGNATURE_INVALID)
SignatureLenRange = _kind(CKR.SIGNATURE_LEN_RANGE)
SlotIdInvalid = _kind(CKR.SLOT_ID_INVALID)
TemplateIncomplete = _kind(CKR.TEMPLATE_INCOMPLETE)
TemplateInconsistent = _kind(CKR.TEMPLATE_INCONSISTENT)
TokenNotPresent = _kind(CKR.TOKEN_NOT_PRESENT)
TokenNotRecognized = _kind(CKR.TOKEN_NOT_RECOGNIZED)
TokenWriteProtected = _kind(CKR.TOKEN_WRITE_PROTECTED)
UnwrappingKeyHandleInvalid = _kind(CKR.UNWRAPPING_KEY_HANDLE_INVALID)
UnwrappingKeySizeRange = _kind(CKR.UNWRAPPING_KEY_SIZE_RANGE)
UnwrappingKeyTypeInconsistent = _kind(CKR.UNWRAPPING_KEY_TYPE_INCONSISTENT)
UserAlreadyLoggedIn = _kind(CKR.USER_ALREADY_LOGGED_IN)
UserAnotherAlreadyLoggedIn = _kind(CKR.USER_ANOTHER_ALREADY_LOGGED_IN)
UserNotLoggedIn = _kind(CKR.USER_NOT_LOGGED_IN)
UserPinNotInitialized = _kind(CKR.USER_PIN_NOT_INITIALIZED)
UserTooManyTypes = _kind(CKR.USER_TOO_MANY_TYPES)
UserTypeInvalid = _kind(CKR.USER_TYPE_INVALID)
WrappedKeyInvalid = _kind(CKR.WRAPPED_KEY_INVALID)
WrappedKeyLenRange = _kind(CKR.WRAPPED_KEY_LEN_RANGE)
WrappingKeyHandleInvalid = _kind(CKR.WRAPPING_KEY_HANDLE_INVALID)
WrappingKeySizeRange = _kind(CKR.WRAPPING_KEY_SIZE_RANGE)
WrappingKeyTypeInconsistent = _kind(CKR.WRAPPING_KEY_TYPE_INCONSISTENT)
